"""One real Ray cluster for tests/engine: two nodes of one CPU each, made on this machine
(``ray.cluster_utils.Cluster``), with fast node-failure detection; the test process is connected to it as a
driver. Skipped when Ray (the ``ray`` extra) is not installed."""

from __future__ import annotations

import shutil

import pytest

NODE_MEMORY = 100 * 1024 * 1024  # object store per node: the jobs exchange only small result rows


@pytest.fixture(scope="module")
def ray_cluster():
    """Module-scoped, not session-scoped: a test process left connected as a driver after the Ray tests could be
    ended by Ray (exit 1, no pytest summary) when a fast health check times out on a busy CI machine while
    later, unrelated tests run."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'cxrkit[ray]')")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, connect=False, head_node_args={
        "num_cpus": 1, "object_store_memory": NODE_MEMORY, "include_dashboard": False,
        "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3,
                           "health_check_timeout_ms": 500, "health_check_initial_delay_ms": 0}})
    cluster.add_node(num_cpus=1, object_store_memory=NODE_MEMORY)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture()
def job_inputs(tmp_path, examples):
    """Images of one job: the bundled examples (3 NIH PNGs, the SIIM DICOM), a CT slice (readable, not a
    radiograph), and bad files: a truncated PNG, a truncated DICOM, a text file named .png."""
    from pydicom.data import get_testdata_file

    src = tmp_path / "in"
    src.mkdir()
    for f in sorted(examples.iterdir()):
        if f.suffix in (".png", ".dcm"):
            shutil.copy(f, src / f.name)
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "ct.dcm")
    (src / "truncated.png").write_bytes((examples / "00000002_000.png").read_bytes()[:3000])
    (src / "truncated.dcm").write_bytes((examples / "siim_pa_chest.dcm").read_bytes()[:2000])
    (src / "text.png").write_text("not an image")
    return src


@pytest.fixture()
def copies(examples):
    """``copies(dest, n)``: ``n`` distinct files (copies of the bundled NIH PNGs) in ``dest``, a job long enough
    to interrupt."""

    def make(dest, n: int):
        dest.mkdir(parents=True, exist_ok=True)
        pngs = sorted(examples.glob("*.png"))
        for i in range(n):
            shutil.copy(pngs[i % len(pngs)], dest / f"img{i:03d}.png")
        return dest

    return make
