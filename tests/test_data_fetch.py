"""``infopo data fetch``: a local HTTP server plays the upstream archive, a test manifest pins it."""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infopo_cli import cli
from infopo_cli.data import manifest
from infopo_cli.data.fetch import STAMP, fetch
from infopo_cli.errors import ConfigError
from infopo_cli.tasks.usergym.protocol import format_call
from infopo_cli.tasks.usergym.task import UserGymTask

pa = pytest.importorskip("pyarrow")  # the upstream splits are parquet files (the data extra)
import pyarrow.parquet as pq  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TOP = "UserRL-0123456789abcdef0123456789abcdef01234567"
SYSTEM = "You are an agent. Use interact_with_env. \u2018Quotes\u2019 stay as written."
RECORDS = [  # FunctionGym task records: rule, test inputs, value of the rule at those inputs
    {"id": "func-1", "rule": "a + b * c - d", "test_case": [1, 2, 3, 4], "expected_result": 3},
    {"id": "func-2", "rule": "a * b + c * d", "test_case": [2, 3, 4, 5], "expected_result": 26},
    {"id": "func-3", "rule": "d - a", "test_case": [7, 0, 0, 9], "expected_result": 2},
]


def verl_row(rec: dict, split: str, index: int, system: str = SYSTEM) -> dict:
    return {
        "data_source": "interact_function",
        "prompt": [
            {"content": system, "role": "system"},
            {"content": "My mapping function is ready. Begin!\n", "role": "user"},
        ],
        "ability": "interaction",
        "reward_model": {
            "env_name": "FunctionGym",
            "ground_truth": str(float(rec["expected_result"])),
            "id": rec["id"],
            "style": "rule",
        },
        "extra_info": {
            "index": index,
            "split": split,
            "tools_kwargs": {
                "interact_with_env": {"create_kwargs": {"env_name": "FunctionGym", "id": rec["id"]}}
            },
        },
    }


def parquet(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def expected_jsonl(rows: list[dict]) -> bytes:
    """What the task reads: one row a line, the system message taken out (written out here
    independently of the converter)."""
    lines = [json.dumps({**r, "prompt": r["prompt"][1:]}, ensure_ascii=False) for r in rows]
    return ("\n".join(lines) + "\n").encode()


SPLITS = {
    "train": [verl_row(RECORDS[0], "train", 0), verl_row(RECORDS[1], "train", 1)],
    "test": [verl_row(RECORDS[2], "test", 0)],
}
MEMBERS = {
    "data/function_multiturn/train.parquet": parquet(SPLITS["train"]),
    "data/function_multiturn/test.parquet": parquet(SPLITS["test"]),
    "gyms/FunctionGym/functiongym/data/functions.json": json.dumps(RECORDS, indent=2).encode(),
}
INSTALLED = {  # path in the dataset folder -> (archive member, conversion, expected bytes)
    "function/system_prompt.txt": (
        "data/function_multiturn/train.parquet",
        "verl_system_prompt",
        SYSTEM.encode(),
    ),
    "function/train.jsonl": (
        "data/function_multiturn/train.parquet",
        "verl_jsonl",
        expected_jsonl(SPLITS["train"]),
    ),
    "function/test.jsonl": (
        "data/function_multiturn/test.parquet",
        "verl_jsonl",
        expected_jsonl(SPLITS["test"]),
    ),
    "function/functions.json": (
        "gyms/FunctionGym/functiongym/data/functions.json",
        "copy",
        MEMBERS["gyms/FunctionGym/functiongym/data/functions.json"],
    ),
}


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(f"other-top/{name}", data)
    return buf.getvalue()


def raw_manifest(url: str) -> dict:
    return {
        "usergym": {
            "description": "test fixture",
            "sources": {"userrl": {"url": url, "kind": "archive", "revision": TOP[-40:]}},
            "files": [
                {
                    "path": path,
                    "source": "userrl",
                    "member": member,
                    "convert": convert,
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
                for path, (member, convert, data) in INSTALLED.items()
            ],
        }
    }


class Server:
    """A static file server over ``root`` in a thread; counts GET requests."""

    def __init__(self, root: Path):
        self.root, self.gets = root, 0
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                server.gets += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "up.tar.gz").write_bytes(tar_gz(MEMBERS))
    s = Server(root)
    yield s
    s.close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """$INFOPO_CACHE in tmp_path, no data env vars: the tasks must find the fetched copy."""
    monkeypatch.setenv("INFOPO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("INFOPO_USERGYM_DATA", raising=False)
    monkeypatch.delenv("INFOPO_TAU2_DATA", raising=False)
    return tmp_path / "cache" / "data"


def test_fetch_fills_the_cache_and_verifies(server, cache, capsys):
    datasets = manifest.parse(raw_manifest(server.url("up.tar.gz")))
    folder = fetch("usergym", datasets=datasets)
    assert folder == cache / "usergym"
    for path, (_, _, data) in INSTALLED.items():
        assert (folder / path).read_bytes() == data
    stamp = json.loads((folder / STAMP).read_text())
    assert stamp["files"] == {
        p: hashlib.sha256(d).hexdigest() for p, (_, _, d) in INSTALLED.items()
    }
    assert stamp["sources"]["userrl"]["url"] == server.url("up.tar.gz")
    assert sorted(p.name for p in cache.iterdir()) == ["usergym"]  # no temporary folder left
    out = capsys.readouterr().out
    size = len((server.root / "up.tar.gz").read_bytes())
    assert f"usergym/userrl: {size} bytes from {server.url('up.tar.gz')}" in out
    assert "usergym: 4 files verified, installed in" in out


def test_a_second_fetch_is_a_no_op(server, cache, capsys):
    datasets = manifest.parse(raw_manifest(server.url("up.tar.gz")))
    fetch("usergym", datasets=datasets)
    before = {p: p.stat().st_mtime_ns for p in (cache / "usergym").rglob("*")}
    gets = server.gets
    capsys.readouterr()
    fetch("usergym", datasets=datasets)
    assert server.gets == gets  # nothing downloaded
    assert {p: p.stat().st_mtime_ns for p in (cache / "usergym").rglob("*")} == before
    assert "already in" in capsys.readouterr().out


def test_an_edited_copy_is_reported_and_force_restores_it(server, cache):
    datasets = manifest.parse(raw_manifest(server.url("up.tar.gz")))
    folder = fetch("usergym", datasets=datasets)
    (folder / "function/functions.json").write_text("[]")
    with pytest.raises(ConfigError, match=r"function/functions.json does not match.*--force"):
        fetch("usergym", datasets=datasets)
    fetch("usergym", datasets=datasets, force=True)
    assert (folder / "function/functions.json").read_bytes() == INSTALLED[
        "function/functions.json"
    ][2]
    assert sorted(p.name for p in cache.iterdir()) == ["usergym"]


@pytest.mark.parametrize(
    "archive, message",
    [
        # truncated download: not readable as an archive at all
        (tar_gz(MEMBERS)[:200], r"^data fetch usergym: http://\S+/bad: not a readable"),
        # a readable archive whose file differs from the pin
        (
            tar_gz({**MEMBERS, "gyms/FunctionGym/functiongym/data/functions.json": b"[]"}),
            r"^data fetch usergym: function/functions.json has sha256 [0-9a-f]{16}\.\.\., pinned",
        ),
        # a file the manifest needs is not in the archive
        (
            tar_gz({k: v for k, v in MEMBERS.items() if "test" not in k}),
            r"^data fetch usergym: function/test.jsonl: the download from \S+ has no data/",
        ),
    ],
    ids=["truncated", "changed-file", "missing-file"],
)
def test_a_bad_archive_is_refused_and_leaves_nothing(server, cache, archive, message):
    (server.root / "bad").write_bytes(archive)
    datasets = manifest.parse(raw_manifest(server.url("bad")))
    with pytest.raises(ConfigError, match=message) as err:
        fetch("usergym", datasets=datasets)
    assert "\n" not in str(err.value)
    assert list(cache.iterdir()) == []  # neither the dataset folder nor a temporary one


def test_rows_with_different_system_messages_are_refused(server, cache):
    rows = [verl_row(RECORDS[0], "train", 0), verl_row(RECORDS[1], "train", 1, system="other")]
    members = {**MEMBERS, "data/function_multiturn/train.parquet": parquet(rows)}
    (server.root / "mixed.tar.gz").write_bytes(tar_gz(members))
    datasets = manifest.parse(raw_manifest(server.url("mixed.tar.gz")))
    with pytest.raises(ConfigError, match=r"function/system_prompt.txt: .*row 1 has a different"):
        fetch("usergym", datasets=datasets)
    assert list(cache.iterdir()) == []


def test_a_zip_mirror_with_another_top_folder_works(server, cache):
    (server.root / "up.zip").write_bytes(zip_bytes(MEMBERS))
    datasets = manifest.parse(raw_manifest("http://127.0.0.1:9/unreachable"))
    folder = fetch("usergym", datasets=datasets, urls=[server.url("up.zip")])
    assert (folder / "function/train.jsonl").read_bytes() == INSTALLED["function/train.jsonl"][2]


def test_an_unpinned_file_source_is_recorded_then_checked(server, cache, capsys):
    """Like ColBench: single files (no archive) whose checksums are not pinned."""
    (server.root / "train.jsonl").write_text('{"a": 1}\n')
    raw = {
        "colbench": {
            "sources": {"train": {"url": server.url("train.jsonl"), "kind": "file"}},
            "files": [{"path": "train.jsonl", "source": "train", "sha256": None}],
        }
    }
    datasets = manifest.parse(raw)
    folder = fetch("colbench", datasets=datasets)
    assert "0 of 1 files verified, 1 not pinned" in capsys.readouterr().out
    stamp = json.loads((folder / STAMP).read_text())
    assert stamp["files"] == {"train.jsonl": hashlib.sha256(b'{"a": 1}\n').hexdigest()}
    fetch("colbench", datasets=datasets)
    assert "nothing to do" in capsys.readouterr().out
    (folder / "train.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match=r"train.jsonl does not match its checksum"):
        fetch("colbench", datasets=datasets)


def test_without_pyarrow_the_fetch_stops_before_downloading(server, cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import fails as if not installed
    datasets = manifest.parse(raw_manifest(server.url("up.tar.gz")))
    with pytest.raises(ConfigError, match=r"^data fetch usergym: .*pip install 'infopo\[data\]'$"):
        fetch("usergym", datasets=datasets)
    assert server.gets == 0 and not cache.exists()


def test_an_unreachable_source_is_one_line(cache):
    datasets = manifest.parse(raw_manifest("http://127.0.0.1:9/up.tar.gz"))
    with pytest.raises(ConfigError, match=r"^data fetch usergym: cannot download http://127"):
        fetch("usergym", datasets=datasets)
    assert list(cache.iterdir()) == []


def test_cli_fetch_with_url_then_a_task_reads_the_cache(
    server, cache, tmp_path, monkeypatch, capsys
):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(raw_manifest("https://example.invalid/never-used.tar.gz")))
    monkeypatch.setattr(manifest, "MANIFEST", path)
    cli.main(["data", "fetch", "usergym", "--url", f"userrl={server.url('up.tar.gz')}"])
    assert "usergym: 4 files verified" in capsys.readouterr().out

    # with no task.data_dir and no $INFOPO_USERGYM_DATA, the task reads the fetched copy
    task = UserGymTask(gym="function")
    assert task.data_dir == (cache / "usergym").resolve()
    assert [i.id for i in task.instances("train")] == ["function/func-1", "function/func-2"]
    (inst,) = task.instances("test")
    env = task.make_env(inst)
    assert env.step(format_call("search", "test")).feedback.startswith(
        "The test inputs are: 7 0 0 9."
    )
    result = env.step(format_call("answer", "2"))  # d - a at the test inputs 7 0 0 9
    assert (result.reward, result.done) == (1.0, True)


def test_cli_wrong_url_key_and_unknown_dataset_are_one_line(cache, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["data", "fetch", "nope"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: data fetch: unknown dataset 'nope'; accepted: usergym, tau2, colbench\n"
    with pytest.raises(SystemExit) as e:
        cli.main(["data", "fetch", "tau2", "--url", "nosuch=http://x/"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err
    assert (
        err
        == "error: data fetch tau2: --url 'nosuch=http://x/' names no source; accepted: tau2=URL, tau2_2025=URL"
    )
    assert not cache.exists()


def test_the_package_manifest_pins_every_upstream_file():
    datasets = manifest.load()
    assert list(datasets) == ["usergym", "tau2", "colbench"]
    for name in ("usergym", "tau2"):
        ds = datasets[name]
        for src in ds.sources.values():  # codeload archives at a full commit
            assert re.fullmatch(r"[0-9a-f]{40}", src.revision)
            assert src.url == f"{src.url.rsplit('/', 1)[0]}/{src.revision}"
        paths = [f.path for f in ds.files]
        assert len(paths) == len(set(paths))
        assert all(re.fullmatch(r"[0-9a-f]{64}", f.sha256 or "") for f in ds.files), name
    assert len(datasets["usergym"].files) == 36 and len(datasets["tau2"].files) == 32
    # ColBench: no upstream bytes could be read to pin, so its checksums are recorded at fetch time
    assert [f.sha256 for f in datasets["colbench"].files] == [None, None]


# files the checked-in benchmark copy keeps byte for byte as upstream (the rest had test items
# held out or were re-indented there)
UNCHANGED = {
    "usergym": [
        "function/train.jsonl",
        "intention/train.jsonl",
        "tau/train.jsonl",
        "turtle/system_prompt.txt",
        "intention/all_intentions_train.json",
        "tau/taubench_db/airline/flights.json",
    ],
    "tau2": [
        "domains/airline/db.json",
        "domains/retail/db.json",
        "domains/telecom/db.toml",
        "domains/telecom/tasks_small.json",
        "user_simulator/simulation_guidelines.md",
    ],
}


@pytest.mark.parametrize("name", sorted(UNCHANGED))
def test_pins_agree_with_the_local_benchmark_copy(name):
    if not (SHARED / name).is_dir():
        pytest.skip(f"no benchmark copy at {SHARED / name}")
    pins = {f.path: f.sha256 for f in manifest.load()[name].files}
    for path in UNCHANGED[name]:
        assert hashlib.sha256((SHARED / name / path).read_bytes()).hexdigest() == pins[path], path
