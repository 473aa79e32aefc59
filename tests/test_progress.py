"""Long steps say how far they are, on the console."""

from gsos import progress
from gsos.progress import Ticker


def test_a_ticker_says_how_far_and_how_long_is_left():
    lines = []
    t = Ticker("decoding x", 4, lines.append, every=0, unit=" files")
    t.update()
    t.update(2)
    assert lines[0].startswith("decoding x: 1 files of 4 files (25%)")
    assert "s left" in lines[1]
    t.close()
    assert lines[-1].endswith("done")
    quiet = []
    Ticker("quick", 2, quiet.append, every=3600).update()
    assert quiet == []  # a short step prints nothing


def test_downloads_and_preparation_report_progress(monkeypatch, tmp_path):
    """A real download over loopback HTTP and a real decode, with lines every 'tick'."""
    from test_download import Server, image_bytes, zip_bytes
    from test_images import cfg, messy_folder

    from gsos.data.download import download
    from gsos.data.prepare import prepare_dataset

    monkeypatch.setattr(progress, "EVERY", 0.0)
    server = Server()
    try:
        entry = server.add("/d.zip", zip_bytes({f"d/c{i}/x.png": image_bytes(i) for i in range(2)}))
        lines = []
        download({"kind": "http", "files": [entry], "train": "d"}, tmp_path / "x", say=lines.append)
        assert any(x.startswith(f"downloading {entry['url']}: ") for x in lines), lines
    finally:
        server.close()
    lines = []
    prepare_dataset("pets", cfg(messy_folder(tmp_path / "pets")), say=lines.append)
    assert any("decoding" in x and "files (" in x for x in lines), lines


def test_status_tells_done_running_stopped_and_waiting(tmp_path, default_config):
    """From the journals alone, as a person checks a workflow that is still going."""
    import copy
    import json
    import os
    import time

    from gsos.reports.status import status

    cfg = copy.deepcopy(default_config)
    cfg["run"].update(strategies=["gsos", "hyperband"], seeds=[0, 1])
    cfg["hpo"]["iterations"] = 4
    runs = tmp_path / "results" / "default" / "runs" / "digits"

    def journal(strategy, seed, n, published=False, age=0.0):
        d = runs / strategy / f"seed{seed}"
        d.mkdir(parents=True, exist_ok=True)
        recs = [
            {
                "iteration": i + 1,
                "status": "ok",
                "val_accuracy": 0.5 + i / 10,
                "elapsed_seconds": 2.0 * (i + 1),
                "sample_epochs": 100,
            }
            for i in range(n)
        ]
        path = d / "records.journal.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in recs))
        os.utime(path, (time.time() - age, time.time() - age))
        if published:
            os.link(path, d / "records.jsonl")

    journal("gsos", 0, 4, published=True)
    journal("gsos", 1, 2)  # changed just now: running
    journal("hyperband", 0, 3, age=3600)  # untouched for an hour: a killed job
    data = tmp_path / "results" / "default" / "data" / "digits"
    data.mkdir(parents=True)
    (data / "manifest.json").write_text(json.dumps({"n_images": {"train": 100}}))
    text = status(cfg, tmp_path)
    lines = {tuple(x.split()[:4]): x for x in text.splitlines()[3:]}
    assert text.startswith("experiment default: 4 runs (1 done, 1 running, 1 stopped, 1 waiting)")
    assert "4/4 trials" in lines[("digits", "gsos", "0", "done")]
    assert "0.8000" in lines[("digits", "gsos", "0", "done")]
    assert "2/4 trials" in lines[("digits", "gsos", "1", "running")]
    assert "3 evals, 3/? epochs" in lines[("digits", "hyperband", "0", "stopped")]
    assert ("digits", "hyperband", "1", "waiting") in lines
