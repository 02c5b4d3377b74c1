"""A scripted "browser" for dl.login() in the conformance run (webbrowser runs it through $BROWSER):
signs in on Taskboard's page as the demo manager and follows the redirects to the SDK's listener."""

import os
import sys
from urllib.parse import urljoin

import requests

url = sys.argv[1]
# webbrowser waits for $BROWSER to exit before dtlpy starts serving its listener: go to the background.
if os.fork():
    sys.exit(0)
session = requests.Session()
session.trust_env = False
first = session.get(url, allow_redirects=False, timeout=30)
sign_in = urljoin(url, first.headers["Location"])
session.get(sign_in, timeout=30)
response = session.post(
    sign_in,
    data={
        "username": "manager@example.com",
        "password": os.environ.get("TB_PASSWORD", "demo"),
        "csrfmiddlewaretoken": session.cookies.get("csrftoken", ""),
    },
    headers={"Referer": sign_in},
    timeout=30,
)
# The last redirect lands on http://localhost:3001/?id_token=…, where dtlpy listens.
print(f"fake browser: {response.status_code} {response.url.split('?')[0]}", file=sys.stderr)
