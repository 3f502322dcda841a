#!/usr/bin/env node
// CDK app: `npx cdk deploy -c distributionId=E... -c applicationName=... -c deploymentGroupName=...`
// ECS-native blue/green: `npx cdk deploy -c distributionId=E... -c ecsNative=true [-c ecsStages=...]`
// Every context value is described in deploy/README.md.
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { EcsStage, HookhostStack } from '../lib/hookhost-stack';

/** Adds the hookhost stack to an app, configured from the app's context (-c name=value). */
export function defineApp(app: App): HookhostStack {
  const ctx = (name: string, fallback?: string): string => {
    const v = app.node.tryGetContext(name);
    if (v === undefined || v === null || v === '') {
      if (fallback === undefined) throw new Error(`missing context value: -c ${name}=...`);
      return fallback;
    }
    return String(v);
  };
  const list = (name: string, fallback: string): string[] =>
    ctx(name, fallback).split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const flag = (name: string): boolean => ['true', '1', 'yes'].includes(ctx(name, 'false').toLowerCase());

  const architecture = ctx('architecture', 'x86_64');
  if (architecture !== 'x86_64' && architecture !== 'arm64') {
    throw new Error(`-c architecture=${architecture}: expected x86_64 or arm64`);
  }
  const reportResource = ctx('reportResource', 'any');
  if (reportResource !== 'deploymentgroup' && reportResource !== 'any') {
    throw new Error(`-c reportResource=${reportResource}: expected any or deploymentgroup`);
  }
  // ECS-native blue/green: the hook function is added; the CodeDeploy functions stay only when
  // their deployment group is named (a service moving from one controller to the other).
  const ecsNative = flag('ecsNative');
  const given = (name: string): boolean => ctx(name, '') !== '';
  const codeDeploy = !ecsNative || given('applicationName') || given('deploymentGroupName');
  if (!codeDeploy) {
    const stray = ['hooks', 'autoHandler', 'reportResource'].filter(given);
    if (stray.length > 0) {
      throw new Error(`-c ${stray.join(', -c ')}: settings of the CodeDeploy functions, which need ` +
        '-c applicationName=... -c deploymentGroupName=... (with ecsNative, ecsStages chooses the scripts)');
    }
  }
  // STAGE=Script (hooks/Script.lua through HOOKHOST_ECS_STAGE_MAP) or STAGE (hooks/STAGE.lua).
  const ecsStages: EcsStage[] = list('ecsStages', 'POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic').map((entry) => {
    const eq = entry.indexOf('=');
    return eq < 0 ? { stage: entry } : { stage: entry.slice(0, eq).trim(), script: entry.slice(eq + 1).trim() };
  });
  if (!ecsNative && given('ecsStages')) throw new Error('-c ecsStages: a setting of -c ecsNative=true');

  const account = ctx('account', process.env.CDK_DEFAULT_ACCOUNT ?? '');
  const region = ctx('region', process.env.CDK_DEFAULT_REGION ?? '');

  return new HookhostStack(app, ctx('stackName', 'HookhostHooks'), {
    env: account && region ? { account, region } : undefined,
    distributionId: ctx('distributionId'),
    codeDeploy,
    applicationName: codeDeploy ? ctx('applicationName') : '',
    deploymentGroupName: codeDeploy ? ctx('deploymentGroupName') : '',
    ecsNative,
    ecsStages,
    architecture,
    hooks: list('hooks', 'AfterAllowTraffic'),
    autoHandler: flag('autoHandler'),
    alarmNames: list('alarmNames', ''),
    alarmPrefix: ctx('alarmPrefix', ''),
    testUrl: ctx('testUrl', ''),
    testExpectStatus: ctx('testExpectStatus', ''),
    testExpectBody: ctx('testExpectBody', ''),
    invalidationPaths: ctx('invalidationPaths', ''),
    invalidationWait: ctx('invalidationWait', ''),
    namePrefix: ctx('namePrefix', 'hookhost'),
    timeoutSeconds: Number(ctx('timeoutSeconds', '60')),
    memoryMb: Number(ctx('memoryMb', '256')),
    distDir: path.resolve(__dirname, '..', ctx('distDir', '../../build/dist')),
    reportResource,
    logRetentionDays: logs.RetentionDays.ONE_MONTH,
  });
}

if (require.main === module) {
  defineApp(new App());
}
