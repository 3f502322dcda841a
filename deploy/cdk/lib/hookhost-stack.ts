// The hookhost runtime layer and one Lambda function per CodeDeploy lifecycle hook; optionally
// (ecsNative) one more function for ECS-native blue/green deployments, with the role ECS assumes
// to invoke it.
//
// Every permission is scoped to the ARN it acts on: the CloudFront distribution, the CodeDeploy
// deployment group, the alarms of the optional alarm gate, the functions' own log groups, the
// ECS hook function.
// deploy/README.md explains each context value; tests/dist/test_cdk.py asserts on the template.
import * as path from 'path';
import { CfnOutput, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

// The ECS lifecycle events a hook function can serve (AppSpec `Hooks:` of an ECS deployment).
export const ECS_HOOKS = [
  'BeforeInstall',
  'AfterInstall',
  'AfterAllowTestTraffic',
  'BeforeAllowTraffic',
  'AfterAllowTraffic',
] as const;

// The ECS-native lifecycle stages a Lambda hook can be attached to, as the runtime knows them
// (src/event.c): an event of another stage is refused by the runtime, so the stack refuses it too.
export const ECS_STAGES = [
  'RECONCILE_SERVICE',
  'PRE_SCALE_UP',
  'POST_SCALE_UP',
  'TEST_TRAFFIC_SHIFT',
  'POST_TEST_TRAFFIC_SHIFT',
  'PRODUCTION_TRAFFIC_SHIFT',
  'POST_PRODUCTION_TRAFFIC_SHIFT',
] as const;

/** One ECS lifecycle stage the ECS hook function serves, and the script it runs there. */
export interface EcsStage {
  readonly stage: string;
  /** hooks/<script>.lua through HOOKHOST_ECS_STAGE_MAP; absent: hooks/<stage>.lua. */
  readonly script?: string;
}

/** The script an ECS stage runs under _HANDLER=auto. */
export const ecsScript = (s: EcsStage): string => s.script ?? s.stage;

export interface HookhostProps extends StackProps {
  /** CloudFront distribution the AfterAllowTraffic hook invalidates (E2EXAMPLE123). */
  readonly distributionId: string;
  /**
   * The CodeDeploy hook functions (one per hook, or one `auto`). Always true without ecsNative;
   * with it, only when the deployment group is given.
   */
  readonly codeDeploy: boolean;
  /** CodeDeploy application and deployment group whose hooks these functions report ('' without codeDeploy). */
  readonly applicationName: string;
  readonly deploymentGroupName: string;
  /**
   * ECS-native blue/green: one function EcsHook_<namePrefix>, handler `auto`, serving ecsStages,
   * with its own role (no CodeDeploy permission) and the role ECS assumes to invoke it.
   */
  readonly ecsNative: boolean;
  readonly ecsStages: EcsStage[];
  /** x86_64 (default) or arm64: the layer must have been built on a host of that architecture. */
  readonly architecture: 'x86_64' | 'arm64';
  /** One function per lifecycle event, handler = the event's name. */
  readonly hooks: string[];
  /** `_HANDLER=auto`: one function that asks CodeDeploy which hook is running. */
  readonly autoHandler: boolean;
  /** Alarm gate (hooks/BeforeAllowTraffic.lua): ALARM_NAMES and/or ALARM_PREFIX. */
  readonly alarmNames: string[];
  readonly alarmPrefix: string;
  /** Smoke test (hooks/AfterAllowTestTraffic.lua): TEST_URL and its optional settings. */
  readonly testUrl: string;
  readonly testExpectStatus: string;
  readonly testExpectBody: string;
  /** Invalidation (hooks/AfterAllowTraffic.lua): INVALIDATION_PATHS, INVALIDATION_WAIT. */
  readonly invalidationPaths: string;
  readonly invalidationWait: string;
  /** Function names are CodeDeployHook_<namePrefix>_<hook> and EcsHook_<namePrefix>; default hookhost. */
  readonly namePrefix: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** build/dist: layer.zip and hooks-only.zip from `make dist`. */
  readonly distDir: string;
  /**
   * Resource of the PutLifecycleEventHookExecutionStatus statement. 'any' ("*", default): the
   * service authorization reference lists no resource type for this action, and a statement
   * naming an ARN for such an action never matches, so the report would be denied and the
   * deployment would wait an hour. 'deploymentgroup': the deployment group's ARN, for accounts
   * where IAM is shown to accept it (deploy/README.md, "Scoping the report permission").
   */
  readonly reportResource: 'deploymentgroup' | 'any';
  readonly logRetentionDays: logs.RetentionDays;
}

export class HookhostStack extends Stack {
  /** The CodeDeploy hook functions. */
  public readonly functions: lambda.Function[] = [];
  /** The ECS-native hook function (ecsNative). */
  public ecsFunction?: lambda.Function;

  constructor(scope: Construct, id: string, props: HookhostProps) {
    super(scope, id, props);
    validate(props);

    const arch = props.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
    // Literal values when the stack has an env (-c account=... -c region=...), else tokens.
    const account = this.account;
    const region = this.region;
    const partition = this.partition;

    const layer = new lambda.LayerVersion(this, 'Runtime', {
      description: 'hookhost: Lua 5.4 CodeDeploy hook runtime (bootstrap, lib/, lua/hookhost)',
      code: lambda.Code.fromAsset(path.join(props.distDir, 'layer.zip')),
      compatibleRuntimes: [lambda.Runtime.PROVIDED_AL2023],
      compatibleArchitectures: [arch],
      removalPolicy: RemovalPolicy.RETAIN, // a rollback may still point at the old version
    });

    const distributionArn = `arn:${partition}:cloudfront::${account}:distribution/${props.distributionId}`;
    const alarmArns = props.alarmNames.map((a) => `arn:${partition}:cloudwatch:${region}:${account}:alarm:${a}`);
    if (props.alarmPrefix) alarmArns.push(`arn:${partition}:cloudwatch:${region}:${account}:alarm:${props.alarmPrefix}*`);
    const logArn = (functionName: string) =>
      `arn:${partition}:logs:${region}:${account}:log-group:/aws/lambda/${functionName}:*`;

    // One environment for every function (the names are the shipped hooks' own), so that a
    // single _HANDLER=auto function can serve them all.
    const environment: Record<string, string> = { DistributionId: props.distributionId };
    const optional: Record<string, string> = {
      ALARM_NAMES: props.alarmNames.join(','),
      ALARM_PREFIX: props.alarmPrefix,
      TEST_URL: props.testUrl,
      TEST_EXPECT_STATUS: props.testExpectStatus,
      TEST_EXPECT_BODY: props.testExpectBody,
      INVALIDATION_PATHS: props.invalidationPaths,
      INVALIDATION_WAIT: props.invalidationWait,
    };
    for (const [k, v] of Object.entries(optional)) if (v) environment[k] = v;

    const shared: Shared = { props, arch, layer, distributionArn, alarmArns, logArn, environment };
    if (props.codeDeploy) this.codeDeployHooks(shared);
    if (props.ecsNative) this.ecsHook(shared);

    new CfnOutput(this, 'LayerArn', { value: layer.layerVersionArn });
  }

  /** One function per CodeDeploy hook (or one `auto`), sharing one role. */
  private codeDeployHooks(s: Shared): void {
    const { props, arch, layer, distributionArn, alarmArns, logArn, environment } = s;
    const account = this.account;
    const region = this.region;
    const partition = this.partition;

    const handlers = props.autoHandler ? ['auto'] : props.hooks;
    const names = handlers.map((h) => `CodeDeployHook_${props.namePrefix}_${h}`);

    // One role for every hook function: they share the same needs.
    const role = new iam.Role(this, 'HookRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'hookhost CodeDeploy hooks: invalidate one distribution, report to one deployment group',
    });

    const groupArn =
      `arn:${partition}:codedeploy:${region}:${account}:deploymentgroup:` +
      `${props.applicationName}/${props.deploymentGroupName}`;

    role.addToPolicy(new iam.PolicyStatement({
      sid: 'InvalidateDistribution',
      actions: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'],
      resources: [distributionArn],
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'ReportHookStatus',
      actions: ['codedeploy:PutLifecycleEventHookExecutionStatus'],
      resources: [props.reportResource === 'deploymentgroup' ? groupArn : '*'],
    }));
    if (props.autoHandler) {
      // What hookhost.codedeploy.current_lifecycle_event calls: ListDeploymentTargets, then
      // BatchGetDeploymentTargets. Neither lists a resource type in the service authorization
      // data we could check, so only "*" matches them: a narrower Resource would deny the call.
      role.addToPolicy(new iam.PolicyStatement({
        sid: 'FindLifecycleEvent',
        actions: ['codedeploy:ListDeploymentTargets', 'codedeploy:BatchGetDeploymentTargets'],
        resources: ['*'],
      }));
    }
    const gate = props.autoHandler || props.hooks.includes('BeforeAllowTraffic');
    if (gate && (props.alarmNames.length > 0 || props.alarmPrefix)) {
      // DescribeAlarms takes alarm ARNs (resource type alarm); a prefix becomes a wildcard.
      role.addToPolicy(new iam.PolicyStatement({
        sid: 'AlarmGate',
        actions: ['cloudwatch:DescribeAlarms'],
        resources: alarmArns,
      }));
    }
    // The basic execution permissions, on the functions' own log groups instead of "*".
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'Logs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: names.map(logArn),
    }));

    handlers.forEach((handler, i) => {
      const functionName = names[i];
      const logGroup = new logs.LogGroup(this, `${handler}Logs`, {
        logGroupName: `/aws/lambda/${functionName}`,
        retention: props.logRetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const fn = new lambda.Function(this, `${handler}Hook`, {
        functionName,
        description: `hookhost: CodeDeploy ${handler} hook (hooks/${handler}.lua)`,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture: arch,
        handler,
        code: lambda.Code.fromAsset(path.join(props.distDir, 'hooks-only.zip')),
        layers: [layer],
        role,
        timeout: Duration.seconds(props.timeoutSeconds),
        memorySize: props.memoryMb,
        environment,
        loggingFormat: lambda.LoggingFormat.JSON,
        logGroup,
        // Lambda's default two retries of an asynchronous invocation stay: the runtime fails
        // an invocation only when its report did not get through, and a redelivered event is
        // report-only.
      });
      this.functions.push(fn);
      new CfnOutput(this, `${handler}Arn`, {
        value: fn.functionArn,
        description: `AppSpec Hooks: - ${handler}: <this ARN>`,
      });
    });
  }

  /**
   * ECS-native blue/green: one function, handler `auto` (an ECS event runs hooks/<STAGE>.lua, or
   * the script HOOKHOST_ECS_STAGE_MAP gives its stage), with its own role, and the role ECS
   * assumes to invoke it (the lifecycle hook's roleArn).
   *
   * The name does not start with CodeDeployHook_: ECS invokes the function through the role
   * below, which names its ARN, so no name convention is needed; and CodeDeploy's ECS service
   * role (AWSCodeDeployRoleForECSLimited may invoke CodeDeployHook_*) cannot invoke it.
   */
  private ecsHook(s: Shared): void {
    const { props, arch, layer, distributionArn, alarmArns, logArn, environment } = s;
    const functionName = `EcsHook_${props.namePrefix}`;
    const scripts = props.ecsStages.map(ecsScript);

    // No CodeDeploy permission at all: an ECS hook answers with its return value.
    const role = new iam.Role(this, 'EcsHookRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'hookhost ECS-native hook: invalidate one distribution',
    });
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'InvalidateDistribution',
      actions: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'],
      resources: [distributionArn],
    }));
    if (scripts.includes('BeforeAllowTraffic') && alarmArns.length > 0) {
      role.addToPolicy(new iam.PolicyStatement({
        sid: 'AlarmGate',
        actions: ['cloudwatch:DescribeAlarms'],
        resources: alarmArns,
      }));
    }
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'Logs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logArn(functionName)],
    }));

    // HOOKHOST_ECS_STAGE_MAP: the STAGE=Script entries (a bare STAGE runs hooks/<STAGE>.lua and
    // needs none). _HANDLER=auto comes from `handler`: Lambda reserves that variable, it cannot
    // be set in the environment.
    const map = props.ecsStages.filter((st) => st.script !== undefined).map((st) => `${st.stage}=${st.script}`);
    const env: Record<string, string> = { ...environment };
    if (map.length > 0) env.HOOKHOST_ECS_STAGE_MAP = map.join(',');

    const logGroup = new logs.LogGroup(this, 'EcsHookLogs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: props.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const fn = new lambda.Function(this, 'EcsHook', {
      functionName,
      description: `hookhost: ECS-native lifecycle hook (${props.ecsStages.map((st) => st.stage).join(', ')})`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: arch,
      handler: 'auto',
      code: lambda.Code.fromAsset(path.join(props.distDir, 'hooks-only.zip')),
      layers: [layer],
      role,
      timeout: Duration.seconds(props.timeoutSeconds),
      memorySize: props.memoryMb,
      environment: env,
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup,
    });
    this.ecsFunction = fn;

    // The lifecycle hook's roleArn: ECS assumes it to invoke this function, and nothing else.
    const invokeRole = new iam.Role(this, 'EcsInvokeRole', {
      assumedBy: new iam.ServicePrincipal('ecs.amazonaws.com'),
      description: `ECS lifecycle hooks: invoke ${functionName}`,
    });
    invokeRole.addToPolicy(new iam.PolicyStatement({
      sid: 'InvokeHook',
      actions: ['lambda:InvokeFunction'],
      resources: [fn.functionArn],
    }));

    new CfnOutput(this, 'EcsHookArn', { value: fn.functionArn, description: 'lifecycleHooks[].hookTargetArn' });
    new CfnOutput(this, 'EcsInvokeRoleArn', { value: invokeRole.roleArn, description: 'lifecycleHooks[].roleArn' });
    new CfnOutput(this, 'EcsLifecycleHook', {
      value: this.toJsonString({
        hookTargetArn: fn.functionArn,
        roleArn: invokeRole.roleArn,
        lifecycleStages: props.ecsStages.map((st) => st.stage),
      }),
      description: "one entry of the service's deploymentConfiguration.lifecycleHooks (deploy/README.md)",
    });
  }
}

/** What both kinds of hook function share. */
interface Shared {
  readonly props: HookhostProps;
  readonly arch: lambda.Architecture;
  readonly layer: lambda.LayerVersion;
  readonly distributionArn: string;
  readonly alarmArns: string[];
  readonly logArn: (functionName: string) => string;
  readonly environment: Record<string, string>;
}

function validate(p: HookhostProps): void {
  const problems: string[] = [];
  if (!/^[A-Z0-9]{1,64}$/.test(p.distributionId)) problems.push(`distributionId '${p.distributionId}': expected a CloudFront distribution id such as E2EXAMPLE123`);
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(p.namePrefix)) problems.push(`namePrefix '${p.namePrefix}': 1 to 20 of A-Z a-z 0-9 _ -`);
  if (!p.codeDeploy && !p.ecsNative) problems.push('nothing to deploy: no CodeDeploy hooks and no ecsNative');
  // The scripts that will run, to check their settings below.
  const scripts: string[] = [];
  if (p.codeDeploy) {
    if (!/^[A-Za-z0-9_.+-]{1,100}$/.test(p.applicationName)) problems.push(`applicationName '${p.applicationName}': letters, digits, _ . + - only`);
    if (!/^[A-Za-z0-9_.+-]{1,100}$/.test(p.deploymentGroupName)) problems.push(`deploymentGroupName '${p.deploymentGroupName}': letters, digits, _ . + - only`);
    if (!p.autoHandler) {
      if (p.hooks.length === 0) problems.push('hooks: name at least one lifecycle event');
      for (const h of p.hooks) {
        if (!(ECS_HOOKS as readonly string[]).includes(h)) problems.push(`hooks: '${h}' is not an ECS lifecycle event (${ECS_HOOKS.join(', ')})`);
      }
      scripts.push(...p.hooks);
    }
  }
  if (p.ecsNative) {
    if (p.ecsStages.length === 0) problems.push('ecsStages: name at least one ECS lifecycle stage');
    const seen = new Set<string>();
    for (const st of p.ecsStages) {
      if (!(ECS_STAGES as readonly string[]).includes(st.stage)) {
        problems.push(`ecsStages: '${st.stage}' is not an ECS lifecycle stage with hooks (${ECS_STAGES.join(', ')})`);
      }
      if (seen.has(st.stage)) problems.push(`ecsStages: '${st.stage}' is named twice`);
      seen.add(st.stage);
      // What the runtime accepts as a script name in HOOKHOST_ECS_STAGE_MAP (src/config.c).
      if (st.script !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(st.script)) {
        problems.push(`ecsStages: '${st.stage}=${st.script}': the script is a hook name, 1 to 64 of A-Z a-z 0-9 _ -`);
      }
      scripts.push(ecsScript(st));
    }
  }
  for (const a of p.alarmNames) {
    if (!/^[^*?:,]{1,255}$/.test(a)) problems.push(`alarmNames: '${a}' (no wildcards or colons)`);
  }
  if (p.alarmPrefix && !/^[^*?:,]{1,255}$/.test(p.alarmPrefix)) problems.push(`alarmPrefix: '${p.alarmPrefix}' (no wildcards or colons)`);
  // A hook deployed without its settings fails on every deployment: refuse it here.
  if (scripts.includes('BeforeAllowTraffic') && p.alarmNames.length === 0 && !p.alarmPrefix) {
    problems.push('hooks: BeforeAllowTraffic (the alarm gate) needs -c alarmNames=... and/or -c alarmPrefix=...');
  }
  if (scripts.includes('AfterAllowTestTraffic') && !p.testUrl) {
    problems.push('hooks: AfterAllowTestTraffic (the smoke test) needs -c testUrl=http://<test listener>/...');
  }
  if (p.testUrl && !/^https?:\/\/[^/\s]+\S*$/.test(p.testUrl)) problems.push(`testUrl '${p.testUrl}': an http:// or https:// URL`);
  if (p.testExpectStatus && !/^[1-5][0-9][0-9]$/.test(p.testExpectStatus)) problems.push(`testExpectStatus '${p.testExpectStatus}': an HTTP status, 100 to 599`);
  if (p.invalidationWait && !['true', 'false'].includes(p.invalidationWait)) problems.push(`invalidationWait '${p.invalidationWait}': true or false`);
  if (!(p.timeoutSeconds >= 1 && p.timeoutSeconds <= 900)) problems.push(`timeout ${p.timeoutSeconds}: 1 to 900 seconds`);
  if (!(p.memoryMb >= 128 && p.memoryMb <= 10240)) problems.push(`memory ${p.memoryMb}: 128 to 10240 MB`);
  if (problems.length > 0) throw new Error(`hookhost stack: ${problems.join('; ')}`);
}
