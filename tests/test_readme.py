"""The README's Python example runs as printed, and its numbers are what the text implies."""

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def run_readme_block(heading):
    """Execute the first Python block after ``heading`` in the README; what it prints."""
    text = README.read_text()
    section = text[text.index(heading):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    return printed.getvalue()


def test_the_readme_api_example_runs_and_its_errors_are_small():
    l1, w1 = (float(v) for v in run_readme_block("## Use from Python").split())
    # grid: 800 cells and the default steps give L1 ~ 1.5e-3 at t_min; particles: 10^5 samples of p_T, 100 "ei"
    # steps: W1 ~ 1e-2 (Monte-Carlo part ~ 3e-3); both bounds are a factor 2-3 above what the example gives
    assert 0 < l1 < 5e-3
    assert 0 < w1 < 3e-2


def test_the_readme_random_time_reversal_example_matches_its_oracle():
    lines = run_readme_block("## Random time reversal").replace("[", " ").replace("]", " ").split("\n")
    frequencies = [float(v) for v in lines[0].split()]
    oracle = [float(v) for v in lines[1].split()]
    assert len(frequencies) == len(oracle) == 5 and abs(sum(frequencies) - 1) < 1e-12
    # 2000 paths: each frequency's standard error is at most 0.011; 4 of them cover every point with room
    for f, p in zip(frequencies, oracle):
        assert abs(f - p) < 4 * (p * (1 - p) / 2000) ** 0.5 + 1e-3


def test_the_readme_schedules_example_runs_and_samples_the_data():
    index, distance = (float(v) for v in run_readme_block("## Schedules").split())
    # diffusers' cosine table reaches sigma = 1 (SNR 1) about half-way (timestep ~ 470); 40 Heun steps of EDM on
    # the Karras grid from sigma = 80 (W1 ~ 8e-3 measured; ei needs ~4x the steps) land within the Monte-Carlo floor of W1 (~4e-3 for 10^5 samples) and the t_min = 0.002 blur
    assert 400 < index < 550
    assert 0 < distance < 1.5e-2
