"""The README's onboarding, word for word: its dtlpy block (step 2), run in a new process with an empty
DATALOOP_PATH, the token `make token` printed put in and the server's address for 127.0.0.1:8000.
Runs inside .ci/venv-dtlpy. Environment: TB_URL, TB_MAKE_TOKEN, TB_ROOT, DATALOOP_PATH (a temp dir).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

URL = os.environ["TB_URL"].rstrip("/")
TOKEN = os.environ.get("TB_MAKE_TOKEN", "").strip()
README = Path(os.environ["TB_ROOT"], "README.md").read_text()


def report(name: str, ok: bool, detail: str = "") -> bool:
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)
    return ok


section = README.split("**2. Point dtlpy at Taskboard**", 1)[-1]
block = re.search(r"```python\n(.*?)```", section, re.S)
ok = report("README: step 2 has a python block with '<the token>'", bool(block and "<the token>" in block[1]))
ok &= report("make token from a new shell printed one JWT", TOKEN.count(".") == 2 and "\n" not in TOKEN, TOKEN[:200])
if ok and block:
    script = block[1].replace("<the token>", TOKEN).replace("http://127.0.0.1:8000", URL)
    fresh = Path(os.environ["DATALOOP_PATH"]) / "onboarding"
    fresh.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DATALOOP_PATH": str(fresh)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    ok &= report(
        "README step 2 with make token's token: dtlpy logs in and gets project Demo",
        done.returncode == 0 and done.stdout.strip().endswith("Demo"),
        (done.stdout + done.stderr)[-2000:],
    )
sys.exit(0 if ok else 1)
