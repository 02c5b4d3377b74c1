"""What a journey test does on every page, as a person would: read numbers by visible text and roles
(never by CSS class), check the page with axe-core, and photograph it at desktop and phone width.

axe-core comes with the `axe-playwright-python` package (pinned in requirements-dev.txt): nothing is
downloaded at test time. Every page checked is listed in test-artifacts/a11y-pages.txt.
"""

import re
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDTHS = (1280, 390)
BLOCKING = ("serious", "critical")
_axe = Axe()


def a11y_violations(page: Page) -> list[dict]:
    """axe-core's violations of WCAG 2.x A and AA rules (and best practices) on the page as it stands."""
    results = _axe.run(page)
    return results.response["violations"]


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"  {v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:5]}" for v in violations
    )


def check_page(page: Page, name: str) -> None:
    """axe-core over the page (0 serious or critical violations), then screenshots at 1280 and 390 px,
    where the page must fit the width."""
    name = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    page.wait_for_load_state("networkidle")
    blocking = [v for v in a11y_violations(page) if v["impact"] in BLOCKING]
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "a11y-pages.txt").open("a") as log:
        log.write(f"{name}\t{page.url}\t{len(blocking)} serious or critical\n")
    assert not blocking, f"{name} ({page.url}) has accessibility violations:\n{describe(blocking)}"
    # One accessible name per control: ids are unique (a label's `for` names one control) and no
    # control has two labels. axe-core misses both when two controls share an id.
    clashes = page.evaluate(
        """() => {
          const seen = {}, out = [];
          document.querySelectorAll('[id]').forEach(e => { if (seen[e.id]) out.push('id ' + e.id); seen[e.id] = 1; });
          document.querySelectorAll('input:not([type=hidden]), select, textarea').forEach(e => {
            if (e.labels && e.labels.length > 1) out.push((e.name || e.id) + ' has ' + e.labels.length + ' labels');
          });
          return out;
        }"""
    )
    assert not clashes, f"{name}: {clashes}"
    # One date format: every moment is a <time> carrying its ISO form on hover (the `when` filter).
    for iso, title in page.get_by_role("time").evaluate_all(
        "els => els.map(e => [e.getAttribute('datetime'), e.getAttribute('title')])"
    ):
        assert iso and title == iso, f"{name}: a <time> without its ISO title ({iso!r}, {title!r})"
    size = page.viewport_size or {"width": 1280, "height": 900}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": size["height"]})
        page.screenshot(path=str(ARTIFACTS / f"journey-{name}-{width}.png"), full_page=True)
        # Reflow (WCAG 1.4.10): on a phone the page never scrolls sideways; wide tables scroll in their box.
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{name} is {scroll_width} px wide at {width} px"
    page.set_viewport_size(size)


def read_table(table: Locator) -> list[dict[str, str]]:
    """A table as a person reads it: one dict per body row, keyed by the column headers' text."""
    expect(table).to_be_visible()
    headers = [h.strip() for h in table.get_by_role("columnheader").all_inner_texts()]
    rows = []
    for row in table.get_by_role("row").all():
        cells = row.get_by_role("rowheader").or_(row.get_by_role("cell")).all_inner_texts()
        if cells and len(cells) == len(headers):
            rows.append(dict(zip(headers, (c.strip() for c in cells), strict=True)))
    return rows


def column(table: Locator, key: str, value: str) -> dict[str, int]:
    """{row's `key` cell: the number in the column whose header starts with `value`}, e.g. each
    assignee's items."""
    rows = read_table(table)
    assert rows, "the table has no rows"
    header = next(h for h in rows[0] if h.startswith(value))
    return {row[key].split()[0]: number(row[header]) for row in rows}


def number(text: str) -> int:
    found = re.search(r"-?[\d,]+", text)
    assert found, f"no number in {text!r}"
    return int(found.group().replace(",", ""))


def settle(page: Page) -> None:
    # The debounced as-you-type check finishes first, as a person waits for the count before moving on.
    page.wait_for_load_state("networkidle")


def next_step(page: Page, title: str) -> None:
    settle(page)
    page.get_by_role("button", name=re.compile(r"^Next")).click()
    expect(page.get_by_role("navigation", name="Steps").locator("[aria-current=step]")).to_contain_text(title)


def matching(page: Page) -> int:
    """The wizard's live count, as its sidebar says it ("20 items match")."""
    status = page.get_by_role("status", name="Matching items")
    expect(status).to_contain_text(re.compile(r"\d+ items? match"))
    return number(status.inner_text())
