"""korqa on a real local Ray cluster, sized for 2 cores: one cluster for the module (fractional CPUs, a small object
store, no dashboard). Ray Serve runs the same app as `korqa serve` in each replica; Ray Data answers a file with a
pool of engine actors, the same answers as one process; a second node started on this machine takes part."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import ray
from ray import serve

from korqa.cli import main
from korqa.errors import ConfigError
from tests.support.server import Server, free_port

pytestmark = pytest.mark.e2e

HANGUL = (
    "훈민정음은 조선의 제4대 왕 세종이 만든 문자이다. 세종은 1443년에 훈민정음을 창제하였고, "
    "3년 뒤인 1446년에 이를 반포하였다."
)
ASK = {"question": "훈민정음을 반포한 해는 언제인가?", "context": HANGUL}
STORE = 80 * 1024 * 1024  # object store bytes: Ray's minimum is 75 MiB


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, object_store_memory=STORE, include_dashboard=False, log_to_driver=False)
    yield
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="module")
def two_replicas(cluster):
    from korqa.ray import deployment

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(deployment({"threads": 1}).options(num_replicas=2).bind(), name="korqa", route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    yield url
    serve.shutdown()


def wait_ready(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready in {timeout} s")


def replicas_seen(url: str, n: int = 40) -> dict[str, int]:
    seen: dict[str, int] = {}
    with ThreadPoolExecutor(8) as pool:
        for r in pool.map(lambda _: httpx.post(url + "/api", json=ASK, timeout=30), range(n)):
            assert r.status_code == 200
            seen[r.headers["x-korqa-replica"]] = seen.get(r.headers["x-korqa-replica"], 0) + 1
    return seen


def test_two_replicas_serve_the_same_contracts_as_korqa_serve(two_replicas):
    local = Server([])  # korqa serve, the embedded model
    try:
        for path, body in [
            ("/api", ASK),
            ("/v1/answer", ASK | {"top_k": 3}),
            ("/v1/answer/batch", {"items": [ASK, {"question": "만든 왕은?", "context": HANGUL}]}),
        ]:
            a = httpx.post(local.url + path, json=body, timeout=30).json()
            b = httpx.post(two_replicas + path, json=body, timeout=30).json()
            for doc in (a, b):  # timings differ from run to run
                for item in [doc, *doc.get("results", [])]:
                    item.pop("timings", None)
            assert a == b
        assert httpx.post(two_replicas + "/api", json=ASK).json()["answer"] == "1446년"
        for path in ("/", "/healthz", "/readyz", "/v1/model", "/metrics"):
            assert httpx.get(two_replicas + path, timeout=10).status_code == 200
        # the same validation and errors: the one edge, not a copy
        for body in ({"question": "q"}, {"question": 3, "context": "x"}, {"question": "q", "context": "x" * 30000}):
            a = httpx.post(local.url + "/api", json=body)
            b = httpx.post(two_replicas + "/api", json=body)
            assert a.status_code == b.status_code and a.status_code in (413, 422)
            assert a.json()["detail"] == b.json()["detail"]
    finally:
        local.stop()


def test_requests_are_served_by_both_replicas(two_replicas):
    seen = replicas_seen(two_replicas)
    assert len(seen) == 2, seen


def test_each_replica_pins_one_cpu_and_one_thread(two_replicas):
    assert ray.cluster_resources()["CPU"] == 2
    assert ray.available_resources().get("CPU", 0) == 0  # each replica holds one CPU; Serve's own actors none
    for _ in range(6):  # whichever replica answers
        assert httpx.get(two_replicas + "/v1/model").json()["threads"] == 1


def test_a_killed_replica_loses_no_request_that_is_retried_once(two_replicas):
    pids = {name.split("pid=")[1] for name in replicas_seen(two_replicas)}
    assert len(pids) == 2
    victim = int(sorted(pids)[0])
    results, retried = [], []

    def client(n: int) -> None:
        with httpx.Client(timeout=30) as http:
            for _ in range(n):
                for attempt in (1, 2):
                    try:
                        r = http.post(two_replicas + "/api", json=ASK)
                        if r.status_code == 200:
                            results.append(r.json()["answer"])
                            break
                    except httpx.HTTPError:
                        pass
                    if attempt == 1:
                        retried.append(1)
                else:
                    results.append(None)

    threads = [threading.Thread(target=client, args=(15,)) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    os.kill(victim, signal.SIGKILL)
    for t in threads:
        t.join()
    assert results == ["1446년"] * 90, (len(results), results.count(None), len(retried))
    # Serve starts a new replica in place of the killed one
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        pids_now = {name.split("pid=")[1] for name in replicas_seen(two_replicas, 20)}
        if len(pids_now) == 2 and str(victim) not in pids_now:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"no replacement replica: {pids_now}")


def test_builder_arguments_are_korqa_serve_options_checked_at_build_time(cluster):
    from korqa.ray import serve_options

    options = serve_options({"model": "m", "max_batch_tokens": "512", "boundary_rules": "false", "api_keys": ["k"]})
    assert (options.model, options.max_batch_tokens, options.use_boundary_rules) == ("m", 512, False)
    for bad in ({"port": 1}, {"no_such_option": 1}, {"max_batch_tokens": "many"}):
        with pytest.raises(ConfigError):
            serve_options(bad)


def test_the_generated_config_file_runs_with_serve_run(cluster, tmp_path):
    port = free_port()
    config = tmp_path / "serve.json"
    assert (
        main(
            [
                "ray-config",
                "--replicas",
                "1",
                "--threads",
                "1",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--out",
                str(config),
            ]
        )
        == 0
    )
    spec = json.loads(config.read_text())
    assert spec["applications"][0]["import_path"] == "korqa.ray:app"
    assert spec["applications"][0]["deployments"][0]["ray_actor_options"] == {"num_cpus": 1}
    address = ray.get_runtime_context().gcs_address
    serve.shutdown()  # `serve run` starts Serve with the file's http_options
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "serve"), "run", "--address", address, str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        body = httpx.post(f"http://127.0.0.1:{port}/api", json=ASK, timeout=30).json()
        assert body["answer"] == "1446년"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        serve.shutdown()


def test_ray_data_batch_gives_the_same_answers_as_one_process(cluster, tmp_path):
    rows = [
        {"id": "a", "question": "훈민정음을 반포한 해는 언제인가?", "context": HANGUL},
        {"id": "b", "question": "훈민정음을 만든 왕은 누구인가?", "context": HANGUL},
        {"id": "c", "question": "이순신 장군이 태어난 해는 언제인가?", "context": HANGUL},
    ] * 4
    rows = [r | {"id": f"{r['id']}{i}"} for i, r in enumerate(rows)]
    data = tmp_path / "q.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert main(["batch", "--data", str(data), "--out", str(tmp_path / "one.jsonl")]) == 0
    assert main(["batch", "--data", str(data), "--out", str(tmp_path / "ray.jsonl"), "--ray", "--actors", "2"]) == 0
    one = {r["id"]: r for r in map(json.loads, (tmp_path / "one.jsonl").read_text().splitlines())}
    on_ray = {r["id"]: r for r in map(json.loads, (tmp_path / "ray.jsonl").read_text().splitlines())}
    assert one == on_ray and len(one) == len(rows)
    assert one["a0"]["answer"] == "1446년" and one["c2"]["no_answer"] is True


def test_a_second_node_takes_part_in_the_batch_job(tmp_path):
    """`ray start --head` and a second `ray start --address` on other ports: two nodes on this machine."""
    if ray.is_initialized():
        serve.shutdown()
        ray.shutdown()
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    head_port = free_port()
    # A throwaway cluster on loopback: no token (ray start --head turns token auth on by default).
    env = os.environ | {"RAY_DISABLE_USAGE_STATS": "1", "RAY_AUTH_MODE": "disabled"}
    common = ["--num-cpus", "1", "--object-store-memory", str(STORE), "--disable-usage-stats"]
    head = [ray_bin, "start", "--head", "--port", str(head_port), "--include-dashboard=false", *common]
    subprocess.run(head, check=True, env=env, capture_output=True)
    try:
        worker = [ray_bin, "start", "--address", f"127.0.0.1:{head_port}", *common]
        worker += ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port())]
        worker += ["--min-worker-port", "20000", "--max-worker-port", "20100"]
        subprocess.run(worker, check=True, env=env, capture_output=True)
        rows = [{"id": str(i), "question": "반포한 해는?", "context": "세종은 1446년에 반포하였다."} for i in range(96)]
        data = tmp_path / "q.jsonl"
        data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
        out = subprocess.run(
            [sys.executable, "-m", "korqa", "batch", "--data", str(data), "--out", str(tmp_path / "a.jsonl"),
             "--ray", "--actors", "2", "--ray-address", f"127.0.0.1:{head_port}"],
            check=True, capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        assert summary["answered"] == 96 and summary["nodes"] == 2, summary
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True)
