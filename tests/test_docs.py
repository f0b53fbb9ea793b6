"""README's "Training options" table is generated from the code and must stay current."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from img2img import options_table
from img2img.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_readme_training_options_table_is_current():
    current = options_table.current_in(README.read_text(encoding="utf-8"))
    assert current == options_table.markdown(), (
        "README's training options table is out of date: run `python -m img2img.options_table --write README.md`"
    )


def test_every_trainconfig_field_and_train_flag_is_in_the_table():
    table = options_table.markdown()
    keywords = {name for row in options_table.rows() for name in re.findall(r"`(\w+)", row[1])}
    missing = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in keywords]
    assert not missing, f"TrainConfig fields missing from the table: {missing}"
    for action in options_table._train_subparser()._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction) and action.help != argparse.SUPPRESS:
            assert f"`{action.option_strings[0]}`" in table


def test_keywords_are_what_the_cli_passes():
    table = options_table.rows()
    rows = {row[0]: row for row in table}
    assert rows["`--task`"][1] == "`recipe`"
    assert rows["`--no-flip`"][1] == "`hflip=False`"
    assert rows["`--skip-bad`"][1] == "`on_bad='skip'`"
    assert '`generator_kwargs["base_channels"]`' in rows["`--base-channels`"][1]
    assert rows["`--size`"][2] == "pix2pix 256, cyclegan 256, srgan 96"
    python_only = [row[1] for row in table if row[0] == "Python only"]
    assert "`val_max_images`" in python_only


def test_readme_markers_replace_round_trip():
    table = options_table.markdown()
    text = f"before\n{options_table.BEGIN}\nold\n{options_table.END}\nafter\n"
    assert options_table.replace_in(text, table) == f"before\n{table}\nafter\n"
