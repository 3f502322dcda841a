"""`hookhost run` finds the function package as Lambda would: modules beside the hooks."""
import os

from luarun import outcome


def package(tmp_path, name="pkg"):
    root = tmp_path / "elsewhere" / name
    (root / "hooks").mkdir(parents=True)
    (root / "helper.lua").write_text("return {answer = 42}\n")
    (root / "hooks" / "AfterAllowTraffic.lua").write_text(
        "local helper = require('helper')\n"
        "return function() return {answer = helper.answer, root = os.getenv('LAMBDA_TASK_ROOT')} end\n")
    return root


def test_a_hook_finds_a_helper_module_of_its_package_from_another_cwd(hookhost, tmp_path):
    root = package(tmp_path)
    # a relative path from the cwd (tmp_path), which is not the package
    p = hookhost("run", "elsewhere/pkg/hooks/AfterAllowTraffic.lua")
    assert p.returncode == 0, p.stderr
    assert outcome(p)["result"] == {"answer": 42, "root": str(root.resolve())}


def test_a_script_outside_hooks_uses_its_own_folder(hookhost, tmp_path):
    d = tmp_path / "elsewhere" / "gates"
    d.mkdir(parents=True)
    (d / "lib.lua").write_text("return 'lib'\n")
    (d / "gate.lua").write_text("return function() return require('lib') end\n")
    p = hookhost("run", str(d / "gate.lua"))
    assert p.returncode == 0, p.stderr
    assert outcome(p)["result"] == "lib"


def test_task_root_option_names_the_package(hookhost, tmp_path):
    root = package(tmp_path)
    script = tmp_path / "scratch" / "try.lua"
    script.parent.mkdir()
    script.write_text("return function() return require('helper').answer end\n")
    assert hookhost("run", str(script)).returncode == 1
    p = hookhost("run", "--task-root", str(root), str(script))
    assert p.returncode == 0, p.stderr
    assert outcome(p)["result"] == 42


def test_lambda_task_root_in_the_environment_wins_over_the_scripts_location(hookhost, tmp_path):
    root = package(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "helper.lua").write_text("return {answer = 'other'}\n")
    p = hookhost("run", str(root / "hooks" / "AfterAllowTraffic.lua"),
                 env={"LAMBDA_TASK_ROOT": str(other)})
    assert p.returncode == 0, p.stderr
    assert outcome(p)["result"]["answer"] == "other"


def test_a_bad_task_root_is_a_usage_error(hookhost, tmp_path):
    root = package(tmp_path)
    script = str(root / "hooks" / "AfterAllowTraffic.lua")
    p = hookhost("run", "--task-root", str(tmp_path / "nope"), script)
    assert p.returncode == 2 and f"--task-root {tmp_path / 'nope'}: No such file" in p.stderr, p.stderr
    p = hookhost("run", "--task-root", script, script)
    assert p.returncode == 2 and "not a directory" in p.stderr, p.stderr


def test_a_missing_module_lists_the_real_paths_searched(hookhost, tmp_path):
    root = package(tmp_path)
    (root / "hooks" / "X.lua").write_text("require('no_such_helper')\nreturn function() end\n")
    p = hookhost("run", "elsewhere/pkg/hooks/X.lua")
    assert p.returncode == 1
    err = outcome(p)["error"]
    assert "no file ''" not in err, err
    assert f"no file '{root.resolve()}/no_such_helper.lua'" in err, err
    assert f"no file '{root.resolve()}/no_such_helper/init.lua'" in err, err
