// Synthesizes the hookhost CDK app once per case in one node process (loading aws-cdk-lib is
// most of a synth's time). Used by test_cdk.py:
//   node cdk_synth.js <compiled bin/hookhost.js> <cases.json>
// cases.json: [{"name", "outdir", "context"}]; prints [{"name", "ok", "error"?}] as JSON.
const fs = require('fs');
const { App } = require('aws-cdk-lib');
const { defineApp } = require(process.argv[2]);

const cases = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const results = cases.map((c) => {
  try {
    const app = new App({ outdir: c.outdir, context: c.context, autoSynth: false });
    defineApp(app);
    app.synth();
    return { name: c.name, ok: true };
  } catch (e) {
    return { name: c.name, ok: false, error: String((e && e.message) || e) };
  }
});
process.stdout.write(JSON.stringify(results));
