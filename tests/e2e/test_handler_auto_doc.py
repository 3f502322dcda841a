"""The README says which CodeDeploy operations `_HANDLER=auto` calls (and so which IAM
permissions the function needs): that list must be the operations it really calls."""
import pathlib
import re

from runtime import Runtime, assert_one_report, body

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def documented_operations():
    row = next(l for l in README.read_text().splitlines() if l.startswith("| `_HANDLER` |"))
    m = re.search(r"`InProgress` \(([A-Za-z, ]+):", row)
    assert m, row
    return {op.strip() for op in m.group(1).split(",")}


def test_the_readme_names_the_operations_handler_auto_calls(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="auto")
    try:
        rt.hook("BeforeAllowTraffic", "return function(e, ctx) return ctx.hook end\n")
        ev = rt.hook_event("BeforeAllowTraffic")
        _, out = rt.invoke(ev)
        assert body(out)["hook"] == "BeforeAllowTraffic", rt.log()
        assert_one_report(rt, ev, "Succeeded", out)
        called = {r["operation"] for r in rt.emu.requests("codedeploy")}
        called.discard("PutLifecycleEventHookExecutionStatus")  # the report, not the discovery
        assert called == documented_operations()
    finally:
        rt.stop()
