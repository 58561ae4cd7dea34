"""Spec errors are refused before anything is queued, naming the file, the line and the culprit."""

from __future__ import annotations

import textwrap

import pytest

from labqueue.studies import SpecError, StepFactory, StudyManager, TemplateKeyError, fill_template, load_spec

GOOD_STEP = '[steps.a]\npython = "tests.core.studies.lab_steps:calibrate"\n'


def spec_file(tmp_path, text):
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("text", "line", "name", "message"),
    [
        (GOOD_STEP + '[steps.b]\ncommand = "true"\ndepends = ["a", "nope"]\n', 5, "nope", "unknown step in b.depends"),
        (
            '[steps.a]\ncommand = "true"\ndepends = ["b"]\n[steps.b]\ncommand = "true"\ndepends = ["a"]\n',
            3,
            "a",
            "cycle: a -> b -> a",
        ),
        ('[steps.a]\npython = "tests.core.studies.lab_steps:missing"\n', 2, "tests.core.studies.lab_steps:missing",
         "has no function missing"),
        ('[steps.a]\npython = "no_such_module_here:f"\n', 2, "no_such_module_here:f", "cannot import"),
        ('[study.samples]\nfield = [1]\n[steps.a]\ncommand = "echo {feild}"\n', 4, "feild", "unknown template key"),
        ('[steps.a]\ncommand = "true"\ncolour = "red"\n', 3, "colour", "unknown key in step 'a'"),
        ('[steps.a]\ncommand = "true"\non_failure = "ignore"\n', 3, "ignore", "on_failure must be one of"),
        ('[steps.a]\ncommand = "true"\npython = "x:y"\n', 1, "a", "exactly one of 'command' and 'python'"),
        ("[steps.a\n", 1, "toml", "Expected"),
    ],
)  # fmt: skip
def test_a_bad_spec_names_file_line_and_culprit(tmp_path, text, line, name, message):
    path = spec_file(tmp_path, text)
    with pytest.raises(SpecError, match=message) as caught:
        load_spec(path)
    assert (caught.value.path, caught.value.line, caught.value.name) == (path, line, name)
    assert str(caught.value).startswith(f"{path}:{line}: {name}: ")


def test_nothing_is_queued_for_a_bad_spec(tmp_path):
    path = spec_file(tmp_path, GOOD_STEP + '[steps.b]\ncommand = "true"\ndepends = ["zzz"]\n')
    with StudyManager() as studies:
        with pytest.raises(SpecError):
            studies.run(path)
        assert studies.manager.job_queue.queue == []
        assert studies.studies.get_all() == []


def test_samples_from_lists_ranges_and_csv(tmp_path):
    path = spec_file(tmp_path, "[study.samples]\nfield = [1, 2]\nn = { range = [0, 6, 3] }\n" + GOOD_STEP)
    assert load_spec(path).samples == [{"field": 1, "n": 0}, {"field": 1, "n": 3}, {"field": 2, "n": 0},
                                       {"field": 2, "n": 3}]  # fmt: skip
    (tmp_path / "s.csv").write_text("code,value\n007,1.5\n")
    path = spec_file(tmp_path, '[study]\nsamples_csv = "s.csv"\n' + GOOD_STEP)
    assert load_spec(path).samples == [{"code": 7, "value": 1.5}]


def test_templates_fill_single_and_double_braces():
    context = {"spool_dir": "/data", "series": 3}
    assert fill_template("{{spool_dir}}/analysis/{series}.h5r", context) == "/data/analysis/3.h5r"
    assert fill_template({"n": "{series}", "items": ["{spool_dir}"]}, context) == {"n": 3, "items": ["/data"]}
    with pytest.raises(TemplateKeyError, match="unknown template key {missing}"):
        fill_template("{missing}", context)


def test_step_factory_chains_get_step_and_push(tmp_path):
    from labqueue import Manager

    def locate(path):
        return f"located {path}"

    def render(path):
        return f"rendered {path}"

    first = StepFactory(locate, inputs={"path": "{{spool_dir}}/{series}.raw"})
    first.chain(StepFactory(render, inputs={"path": "{run_dir}/image.tif"}))
    manager = Manager()
    try:
        pushed = []
        for series in range(3):
            step = first.get_step({"spool_dir": str(tmp_path), "series": series, "workspace": str(tmp_path)})
            pushed.append(step.push(manager.job_queue))
        results = [[exp.result(10) for exp in chain] for chain in pushed]
        assert results[2] == [f"located {tmp_path}/2.raw", f"rendered {tmp_path}/render/2/image.tif"]
        assert (tmp_path / "locate" / "1" / "LABQUEUE_FINISHED").is_file()
    finally:
        manager.shutdown()
