"""The Galera cluster check of one lab controller, for HAProxy.

``python3 osic_lab_galera_check.py ADDRESS PORT SOCKET``: answers HTTP
200 while the MariaDB node behind SOCKET is Synced with its cluster
(``wsrep_local_state`` 4) and 503 otherwise, on ADDRESS:PORT. This is
what OpenStack-Ansible's clustercheck answers on port 9200 of each
Galera node: HAProxy sends writes only to a node that can take them.
Standard library and the ``mariadb`` client only.
"""

import http.server
import subprocess
import sys

SYNCED = "4"


def node_state(socket_path):
    try:
        result = subprocess.run(
            [
                "mariadb",
                f"--socket={socket_path}",
                "--connect-timeout=2",
                "-N",
                "-B",
                "-e",
                "SHOW STATUS LIKE 'wsrep_local_state'",
            ],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = result.stdout.split()
    return fields[1] if result.returncode == 0 and len(fields) == 2 else None


def handler_for(socket_path):
    class Check(http.server.BaseHTTPRequestHandler):
        def _answer(self, body):
            synced = node_state(socket_path) == SYNCED
            text = b"synced\n" if synced else b"not synced\n"
            self.send_response(200 if synced else 503)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            if body:
                self.wfile.write(text)

        def do_GET(self):  # noqa: N802 (http.server's name)
            self._answer(body=True)

        def do_HEAD(self):  # noqa: N802
            self._answer(body=False)

        def log_message(self, *args):
            pass  # HAProxy asks every 2 s

    return Check


def main(argv):
    address, port, socket_path = argv
    server = http.server.HTTPServer(
        (address, int(port)), handler_for(socket_path)
    )
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
