"""img2img: image-to-image translation with GANs (pix2pix, CycleGAN, SRGAN)."""

__version__ = "0.1.0"
