#!/usr/bin/env node
// CDK app: `npx cdk deploy -c distributionId=E... -c applicationName=... -c deploymentGroupName=...`
// ECS-native blue/green: `npx cdk deploy -c distributionId=E... -c ecsNative=true [-c ecsStages=...]`
// cdk-nag's AwsSolutions and Serverless packs: `npx cdk synth -c cdkNag=true ...`.
// Every context value is described in deploy/README.md.
import * as path from 'path';
import { App, Aspects } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
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
  if (reportResource !== 'deploymentgroup' && reportResource !== 'application' && reportResource !== 'any') {
    throw new Error(`-c reportResource=${reportResource}: expected any, application or deploymentgroup`);
  }
  const logRemoval = ctx('logRemoval', 'retain');
  if (logRemoval !== 'retain' && logRemoval !== 'destroy') {
    throw new Error(`-c logRemoval=${logRemoval}: expected retain or destroy`);
  }
  const retention = ctx('logRetentionDays', '30');
  const retentions = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number');
  const logRetentionDays = retention === 'infinite' ? logs.RetentionDays.INFINITE : Number(retention);
  if (!retentions.includes(logRetentionDays)) {
    throw new Error(`-c logRetentionDays=${retention}: one of ${retentions.filter((d) => d !== logs.RetentionDays.INFINITE).join(', ')} or infinite`);
  }
  // ECS-native blue/green: the hook function is added; the CodeDeploy functions stay only when
  // their deployment group is named (a service moving from one controller to the other).
  const ecsNative = flag('ecsNative');
  const given = (name: string): boolean => ctx(name, '') !== '';
  const codeDeploy = !ecsNative || given('applicationName') || given('deploymentGroupName');
  if (!codeDeploy) {
    const stray = ['hooks', 'autoHandler', 'reportResource', 'maxEventAgeSeconds', 'retryAttempts',
      'onFailureArn', 'errorAlarmTopicArn'].filter(given);
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

  // Relative to the current directory: the CDK app's (deploy/cdk) when the cdk CLI runs it,
  // wherever the app was compiled to.
  const distDir = path.resolve(process.cwd(), ctx('distDir', path.join('..', '..', 'build', 'dist')));
  const invalidationWait = ctx('invalidationWait', '');
  const reserve = ctx('reserveMs', '');

  if (flag('cdkNag')) {
    Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
    Aspects.of(app).add(new ServerlessChecks({ verbose: true }));
  }

  return new HookhostStack(app, ctx('stackName', 'HookhostHooks'), {
    env: account && region ? { account, region } : undefined,
    distributionId: ctx('distributionId', ''),
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
    testRetries: ctx('testRetries', ''),
    testTimeoutMs: ctx('testTimeoutMs', ''),
    invalidationPaths: ctx('invalidationPaths', ''),
    invalidationWait,
    namePrefix: ctx('namePrefix', 'hookhost'),
    // Waiting for an invalidation takes up to 10 minutes: the longest timeout by default then.
    timeoutSeconds: Number(ctx('timeoutSeconds', invalidationWait === 'true' ? '900' : '60')),
    memoryMb: Number(ctx('memoryMb', '256')),
    reserveMs: reserve === '' ? undefined : Number(reserve),
    logLevel: ctx('logLevel', '').toUpperCase(),
    distDir,
    reportResource,
    logRetentionDays,
    logRemoval,
    maxEventAgeSeconds: Number(ctx('maxEventAgeSeconds', '3600')),
    retryAttempts: Number(ctx('retryAttempts', '2')),
    onFailureArn: ctx('onFailureArn', ''),
    errorAlarmTopicArn: ctx('errorAlarmTopicArn', ''),
  });
}

if (require.main === module) {
  defineApp(new App());
}
