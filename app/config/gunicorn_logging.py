"""gunicorn's access log as one JSON object per line (what log pipelines parse best)."""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

from gunicorn import glogging


class JsonAccessLogger(glogging.Logger):
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.cfg.accesslog:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        record = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "remote": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "query": atoms["q"],
            "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
            "bytes": atoms["B"],
            "durationMs": round(request_time.total_seconds() * 1000, 2),
            "userAgent": atoms["a"],
            "referer": atoms["f"],
            "pid": os.getpid(),
        }
        self.access_log.info(json.dumps(record))
