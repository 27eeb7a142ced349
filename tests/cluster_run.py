"""Run pytest with the site on a private 3-master, 3-replica Redis Cluster (REDIS_CLUSTER_NODES).

    python -m tests.cluster_run -m cluster        # what .ci/run does

The cluster must exist before pytest-django imports the settings, so it is started here, around
pytest, rather than by a fixture.
"""

import os
import subprocess
import sys

from tests.servers import Cluster


def main(argv: list[str]) -> int:
    with Cluster() as cluster:
        env = {**os.environ, "REDIS_URL": "", "REDIS_SENTINELS": "", "REDIS_CLUSTER_NODES": cluster.nodes_setting()}
        return subprocess.call([sys.executable, "-m", "pytest", *argv], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
