// Synthesizes the hookhost CDK app once per case in one node process (loading aws-cdk-lib is
// most of a synth's time). Used by test_cdk.py:
//   node cdk_synth.js <compiled bin/hookhost.js> <cases.json>
// cases.json: [{"name", "outdir", "context", "cwd"?}]; prints [{"name", "ok", "error"?,
// "findings"?}] as JSON. findings: the error and warning annotations of the synthesized stacks
// (with -c cdkNag=true, cdk-nag's non-compliant rules; `cdk synth` fails on the errors).
const fs = require('fs');
const { App } = require('aws-cdk-lib');
const { defineApp } = require(process.argv[2]);

const cases = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const start = process.cwd();
const results = cases.map((c) => {
  try {
    process.chdir(c.cwd || start);
    const app = new App({ outdir: c.outdir, context: c.context, autoSynth: false });
    defineApp(app);
    const assembly = app.synth();
    const findings = [];
    for (const stack of assembly.stacks) {
      for (const m of stack.messages) {
        if (m.level === 'error' || m.level === 'warning') {
          findings.push({ level: m.level, path: m.id, text: String(m.entry.data).split('\n')[0] });
        }
      }
    }
    return { name: c.name, ok: true, findings };
  } catch (e) {
    return { name: c.name, ok: false, error: String((e && e.message) || e) };
  } finally {
    process.chdir(start);
  }
});
process.stdout.write(JSON.stringify(results));
