// The hookhost runtime layer and one Lambda function per CodeDeploy lifecycle hook; optionally
// (ecsNative) one more function for ECS-native blue/green deployments, with the role ECS assumes
// to invoke it.
//
// Each permission comes with the hook that needs it and names the ARN it acts on where IAM
// allows it: the CloudFront distribution (only with a hook that invalidates), the functions' own
// log groups, the ECS hook function, the on-failure destination. "*" where a narrower resource
// would deny or hide what the hook needs: the report to CodeDeploy by default (no resource type
// in the service authorization reference; -c reportResource scopes it to the deployment group
// or the application), the auto handler's look-ups, and DescribeAlarms (composite alarms are
// returned only to a permission on "*").
//
// What would fail on every deployment is refused at synth: a hook without its settings or its
// script in the package, a bootstrap of the other architecture, a timeout too short for the
// reserve or for an invalidation wait.
// deploy/README.md explains each context value; tests/dist/test_cdk.py asserts on the template and
// runs cdk-nag (AwsSolutions, Serverless) over it: the suppressions below say why each finding
// does not apply.
import * as path from 'path';
import { CfnOutput, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagPackSuppression, NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { elfArchitecture, zipEntries, zipHead } from './package';

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

/** The log levels Lambda passes as AWS_LAMBDA_LOG_LEVEL (and the runtime accepts, src/log.c). */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;

/** The time the script must have after the runtime's reserve (a few AWS calls with retries). */
export const MIN_SCRIPT_MS = 5000;
/**
 * With invalidationWait, the time the AfterAllowTraffic script must have after the reserve:
 * the SDK's invalidation waiter polls for up to 10 minutes (30 polls, 20 s apart), plus 30 s to
 * create the invalidation (CreateInvalidation is retried while CloudFront throttles).
 */
export const INVALIDATION_WAIT_SCRIPT_MS = 630_000;

/** One ECS lifecycle stage the ECS hook function serves, and the script it runs there. */
export interface EcsStage {
  readonly stage: string;
  /** hooks/<script>.lua through HOOKHOST_ECS_STAGE_MAP; absent: hooks/<stage>.lua. */
  readonly script?: string;
}

/** The script an ECS stage runs under _HANDLER=auto. */
export const ecsScript = (s: EcsStage): string => s.script ?? s.stage;

export interface HookhostProps extends StackProps {
  /**
   * CloudFront distribution the AfterAllowTraffic hook invalidates (E2EXAMPLE123); required when
   * a deployed hook invalidates (AfterAllowTraffic, or the auto handler), '' otherwise.
   */
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
  /** x86_64 (default) or arm64: the layer's bootstrap must be of that architecture (checked). */
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
  /** TEST_RETRIES (0 to 50) and TEST_TIMEOUT_MS (1 to 900000); '' for the script's defaults. */
  readonly testRetries: string;
  readonly testTimeoutMs: string;
  /** Invalidation (hooks/AfterAllowTraffic.lua): INVALIDATION_PATHS, INVALIDATION_WAIT. */
  readonly invalidationPaths: string;
  readonly invalidationWait: string;
  /** Function names are CodeDeployHook_<namePrefix>_<hook> and EcsHook_<namePrefix>; default hookhost. */
  readonly namePrefix: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** HOOKHOST_RESERVE_MS (0 to 600000), or undefined for the runtime's default (10 %, 0.3 to 10 s). */
  readonly reserveMs?: number;
  /** The functions' log level (AWS_LAMBDA_LOG_LEVEL), one of LOG_LEVELS, or '' for Lambda's (INFO). */
  readonly logLevel: string;
  /** build/dist: layer.zip (x86_64, `make dist`) or layer-arm64.zip (`make dist ARCH=arm64`), and hooks-only.zip. */
  readonly distDir: string;
  /**
   * Resource of the PutLifecycleEventHookExecutionStatus statement. 'any' ("*", default): the
   * service authorization reference lists no resource type for this action, and for such an
   * action IAM matches only "*". 'deploymentgroup': the deployment group's ARN; 'application':
   * every deployment group of the application (deploymentgroup:<app>/*, what AWS's CodeDeploy
   * SAM tutorial grants). Both narrower forms are for accounts where IAM is shown to accept them
   * (deploy/README.md, "Scoping the report permission").
   */
  readonly reportResource: 'deploymentgroup' | 'application' | 'any';
  readonly logRetentionDays: logs.RetentionDays;
  /** Keep the log groups when the stack is deleted (default) or delete them with it. */
  readonly logRemoval: 'retain' | 'destroy';
  /** Asynchronous invocations (CodeDeploy functions): maximum event age (60 to 3600 s) and retries (0 to 2). */
  readonly maxEventAgeSeconds: number;
  readonly retryAttempts: number;
  /** On-failure destination of asynchronous invocations: an SQS queue, SNS topic, Lambda function or EventBridge bus ARN, or ''. */
  readonly onFailureArn: string;
  /** SNS topic notified when a CodeDeploy function's Errors alarm fires, or ''. */
  readonly errorAlarmTopicArn: string;
}

/** The IAM action an on-failure destination needs, by the service of its ARN. */
const DESTINATION_ACTIONS: Record<string, string> = {
  sqs: 'sqs:SendMessage',
  sns: 'sns:Publish',
  lambda: 'lambda:InvokeFunction',
  events: 'events:PutEvents',
};
const DESTINATION_ARN = /^arn:aws[a-z-]*:(sqs|sns|lambda|events):[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_./:-]{1,256}$/;

/** The actions that only "*" matches (no resource type in the service authorization reference). */
const NO_RESOURCE_TYPE = [
  'codedeploy:PutLifecycleEventHookExecutionStatus',
  'codedeploy:ListDeploymentTargets',
  'codedeploy:BatchGetDeploymentTargets',
];

/** An on-failure destination given by ARN; its permission is granted by the stack (one Sid). */
class ArnDestination implements lambda.IDestination {
  constructor(private readonly arn: string) {}
  bind(): lambda.DestinationConfig {
    return { destination: this.arn };
  }
}

export class HookhostStack extends Stack {
  /** The CodeDeploy hook functions. */
  public readonly functions: lambda.Function[] = [];
  /** The ECS-native hook function (ecsNative). */
  public ecsFunction?: lambda.Function;

  constructor(scope: Construct, id: string, props: HookhostProps) {
    super(scope, id, props);
    const scripts = validate(props);
    checkPackages(props, scripts);

    const arch = props.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
    // Literal values when the stack has an env (-c account=... -c region=...), else tokens.
    const account = this.account;
    const region = this.region;
    const partition = this.partition;

    const layer = new lambda.LayerVersion(this, 'Runtime', {
      description: 'hookhost: Lua 5.4 CodeDeploy hook runtime (bootstrap, lua/hookhost)',
      code: lambda.Code.fromAsset(layerZipOf(props)),
      compatibleRuntimes: [lambda.Runtime.PROVIDED_AL2023],
      compatibleArchitectures: [arch],
      removalPolicy: RemovalPolicy.RETAIN, // a rollback may still point at the old version
    });

    const distributionArn = `arn:${partition}:cloudfront::${account}:distribution/${props.distributionId}`;
    const logArn = (functionName: string) =>
      `arn:${partition}:logs:${region}:${account}:log-group:/aws/lambda/${functionName}:*`;

    // One environment for every function (the names are the shipped hooks' own), so that a
    // single _HANDLER=auto function can serve them all.
    const environment: Record<string, string> = {};
    const optional: Record<string, string> = {
      DistributionId: props.distributionId,
      ALARM_NAMES: props.alarmNames.join(','),
      ALARM_PREFIX: props.alarmPrefix,
      TEST_URL: props.testUrl,
      TEST_EXPECT_STATUS: props.testExpectStatus,
      TEST_EXPECT_BODY: props.testExpectBody,
      TEST_RETRIES: props.testRetries,
      TEST_TIMEOUT_MS: props.testTimeoutMs,
      INVALIDATION_PATHS: props.invalidationPaths,
      INVALIDATION_WAIT: props.invalidationWait,
      HOOKHOST_RESERVE_MS: props.reserveMs === undefined ? '' : String(props.reserveMs),
    };
    for (const [k, v] of Object.entries(optional)) if (v) environment[k] = v;

    const shared: Shared = { props, arch, layer, distributionArn, logArn, environment };
    if (props.codeDeploy) this.codeDeployHooks(shared);
    if (props.ecsNative) this.ecsHook(shared);

    new CfnOutput(this, 'LayerArn', { value: layer.layerVersionArn });
  }

  /** One function per CodeDeploy hook (or one `auto`), sharing one role. */
  private codeDeployHooks(s: Shared): void {
    const { props, logArn } = s;
    const account = this.account;
    const region = this.region;
    const partition = this.partition;

    const handlers = props.autoHandler ? ['auto'] : props.hooks;
    const names = handlers.map((h) => `CodeDeployHook_${props.namePrefix}_${h}`);
    // The auto handler runs whichever hook CodeDeploy names: it gets what every shipped hook
    // needs whose settings are given.
    const runs = (hook: string) => props.autoHandler || props.hooks.includes(hook);

    const groupArn =
      `arn:${partition}:codedeploy:${region}:${account}:deploymentgroup:` +
      `${props.applicationName}/${props.deploymentGroupName}`;
    const reportArn = {
      any: '*',
      deploymentgroup: groupArn,
      application: `arn:${partition}:codedeploy:${region}:${account}:deploymentgroup:${props.applicationName}/*`,
    }[props.reportResource];

    // One role for every hook function: they share the same needs.
    const role = new iam.Role(this, 'HookRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `hookhost CodeDeploy hooks: report hook status (${{
        any: 'any deployment group: Resource "*"',
        deploymentgroup: `deployment group ${props.applicationName}/${props.deploymentGroupName} only`,
        application: `deployment groups of ${props.applicationName}`,
      }[props.reportResource]})` + (runs('AfterAllowTraffic') ? `, invalidate ${props.distributionId}` : ''),
    });

    if (runs('AfterAllowTraffic')) {
      role.addToPolicy(new iam.PolicyStatement({
        sid: 'InvalidateDistribution',
        actions: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'],
        resources: [s.distributionArn],
      }));
    }
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'ReportHookStatus',
      actions: ['codedeploy:PutLifecycleEventHookExecutionStatus'],
      resources: [reportArn],
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
    const gate = runs('BeforeAllowTraffic') && (props.alarmNames.length > 0 || props.alarmPrefix !== '');
    if (gate) role.addToPolicy(alarmGateStatement());
    // The basic execution permissions, on the functions' own log groups instead of "*".
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'Logs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: names.map(logArn),
    }));
    if (props.onFailureArn) {
      role.addToPolicy(new iam.PolicyStatement({
        sid: 'OnFailureDestination',
        actions: [DESTINATION_ACTIONS[props.onFailureArn.split(':')[2]]],
        resources: [props.onFailureArn],
      }));
    }

    handlers.forEach((handler, i) => {
      const functionName = names[i];
      const fn = this.hookFunction(s, `${handler}Hook`, `${handler}Logs`, functionName, {
        description: `hookhost: CodeDeploy ${handler} hook (hooks/${handler}.lua)`,
        handler,
        role,
        environment: s.environment,
      });
      // CodeDeploy invokes hook functions asynchronously (deploy/README.md, "How CodeDeploy
      // invokes the hooks"): Lambda's defaults would retry a throttled event for 6 hours
      // while CodeDeploy waits 1 hour. The runtime fails an invocation only when its report
      // did not get through, and a redelivered event is report-only.
      fn.configureAsyncInvoke({
        maxEventAge: Duration.seconds(props.maxEventAgeSeconds),
        retryAttempts: props.retryAttempts,
        onFailure: props.onFailureArn ? new ArnDestination(props.onFailureArn) : undefined,
      });
      // A function error is the one sign that a report was not delivered.
      const alarm = new cloudwatch.Alarm(this, `${handler}Errors`, {
        alarmName: `${functionName}-Errors`,
        alarmDescription: `hookhost: ${functionName} failed an invocation, so a CodeDeploy hook report ` +
          'was not delivered (the deployment waits up to an hour for it): see the function\'s log ' +
          '("report NOT delivered") and deploy/README.md, "When a deployment waits on a hook"',
        metric: fn.metricErrors({ period: Duration.minutes(1), statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (props.errorAlarmTopicArn) {
        alarm.addAlarmAction({ bind: () => ({ alarmActionArn: props.errorAlarmTopicArn }) });
      }
      this.functions.push(fn);
      new CfnOutput(this, `${handler}Arn`, {
        value: fn.functionArn,
        description: `AppSpec Hooks: - ${handler}: <this ARN>`,
      });
      const failed = props.onFailureArn ? [] : [{
        id: 'Serverless-LambdaAsyncFailureDestination',
        reason: 'No on-failure destination was given (-c onFailureArn=... sets one): a failed asynchronous ' +
          `invocation is a report not delivered, and the alarm ${functionName}-Errors signals it.`,
      }];
      NagSuppressions.addResourceSuppressions(fn, [...failed, {
        id: 'Serverless-LambdaDLQ',
        reason: props.onFailureArn
          ? `Failed asynchronous invocations go to the on-failure destination ${props.onFailureArn} ` +
            `(EventInvokeConfig) and raise the alarm ${functionName}-Errors; a dead-letter queue as well ` +
            'would receive each failed event a second time.'
          : 'The EventInvokeConfig on-failure destination takes the place of a dead-letter queue ' +
            `(-c onFailureArn=... sets one); without it, the alarm ${functionName}-Errors signals each ` +
            'failed invocation.',
      }], true);
    });

    NagSuppressions.addResourceSuppressions(role, iamSuppressions(props, names, this.starActions(role)), true);
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
    const { props, logArn, environment } = s;
    const functionName = `EcsHook_${props.namePrefix}`;
    const scripts = props.ecsStages.map(ecsScript);

    // No CodeDeploy permission at all: an ECS hook answers with its return value.
    const invalidates = scripts.includes('AfterAllowTraffic');
    const role = new iam.Role(this, 'EcsHookRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'hookhost ECS-native hook' + (invalidates ? `: invalidate ${props.distributionId}` : ''),
    });
    if (invalidates) {
      role.addToPolicy(new iam.PolicyStatement({
        sid: 'InvalidateDistribution',
        actions: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'],
        resources: [s.distributionArn],
      }));
    }
    if (scripts.includes('BeforeAllowTraffic') && (props.alarmNames.length > 0 || props.alarmPrefix !== '')) {
      role.addToPolicy(alarmGateStatement());
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

    const fn = this.hookFunction(s, 'EcsHook', 'EcsHookLogs', functionName, {
      description: `hookhost: ECS-native lifecycle hook (${props.ecsStages.map((st) => st.stage).join(', ')})`,
      handler: 'auto',
      role,
      environment: env,
    });
    this.ecsFunction = fn;
    NagSuppressions.addResourceSuppressions(fn, [{
      id: 'Serverless-LambdaDLQ',
      reason: 'ECS invokes lifecycle hook functions synchronously and reads their answer (hookStatus): ' +
        'a dead-letter queue receives only failed asynchronous events, so it would never fire here.',
    }], true);

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
    NagSuppressions.addResourceSuppressions(role, iamSuppressions(props, [functionName], this.starActions(role)), true);

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

  /** A hook function with its log group: what the CodeDeploy and ECS functions share. */
  private hookFunction(s: Shared, id: string, logsId: string, functionName: string,
    o: { description: string; handler: string; role: iam.IRole; environment: Record<string, string> }): lambda.Function {
    const { props } = s;
    const logGroup = new logs.LogGroup(this, logsId, {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: props.logRetentionDays,
      // Retained by default: the log of a failed deployment outlives the stack. A retained
      // group keeps its name, so a new stack of the same name needs it deleted first.
      removalPolicy: props.logRemoval === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    const fn = new lambda.Function(this, id, {
      functionName,
      description: o.description,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: s.arch,
      handler: o.handler,
      code: lambda.Code.fromAsset(path.join(props.distDir, 'hooks-only.zip')),
      layers: [s.layer],
      role: o.role,
      timeout: Duration.seconds(props.timeoutSeconds),
      memorySize: props.memoryMb,
      environment: o.environment,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: props.logLevel ? (props.logLevel as lambda.ApplicationLogLevel) : undefined,
      logGroup,
    });
    NagSuppressions.addResourceSuppressions(fn, [{
      id: 'Serverless-LambdaTracing',
      reason: 'The runtime sends no X-Ray segments of its own (it passes the trace header on); active ' +
        'tracing would add only Lambda\'s invoke segment, at the price of xray:PutTraceSegments on "*".',
    }], true);
    return fn;
  }

  /** The actions a role's policy grants on Resource "*". */
  private starActions(role: iam.Role): string[] {
    const doc = this.resolve((role.node.tryFindChild('DefaultPolicy') as iam.Policy | undefined)?.document);
    const out: string[] = [];
    for (const st of doc?.Statement ?? []) {
      if (([] as unknown[]).concat(st.Resource).includes('*')) out.push(...([] as string[]).concat(st.Action));
    }
    return out;
  }
}

/** What both kinds of hook function share. */
interface Shared {
  readonly props: HookhostProps;
  readonly arch: lambda.Architecture;
  readonly layer: lambda.LayerVersion;
  readonly distributionArn: string;
  readonly logArn: (functionName: string) => string;
  readonly environment: Record<string, string>;
}

/**
 * The alarm gate's DescribeAlarms, on "*": CloudWatch returns composite alarms only to a
 * permission scoped to "*" (DescribeAlarms API reference), so a statement naming the alarms'
 * ARNs would hide a composite alarm from the gate ("not found" for a name, left out of a
 * prefix: the gate would open while it is in ALARM). DescribeAlarms only reads.
 */
function alarmGateStatement(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'AlarmGate',
    actions: ['cloudwatch:DescribeAlarms'],
    resources: ['*'],
  });
}

/**
 * cdk-nag AwsSolutions-IAM5 findings of a hook role's policy, each with the reason it is what the
 * hook needs: "*" for the actions that only "*" matches or that hide results otherwise, the log
 * streams (named by Lambda at run time) of the functions' own log groups, and the application
 * scope of the report when chosen.
 */
function iamSuppressions(props: HookhostProps, functionNames: string[], starActions: string[]): NagPackSuppression[] {
  const out: NagPackSuppression[] = [];
  if (starActions.length > 0) {
    const why: string[] = [];
    const untyped = starActions.filter((a) => NO_RESOURCE_TYPE.includes(a));
    if (untyped.length > 0) {
      why.push(`${untyped.join(', ')}: no resource type in the service authorization reference, so IAM matches only "*"`);
    }
    if (starActions.includes('cloudwatch:DescribeAlarms')) {
      why.push('cloudwatch:DescribeAlarms (the alarm gate): composite alarms are returned only to a permission ' +
        'scoped to "*" (DescribeAlarms API reference); a narrower one would hide them from the gate');
    }
    const other = starActions.filter((a) => !NO_RESOURCE_TYPE.includes(a) && a !== 'cloudwatch:DescribeAlarms');
    if (other.length > 0) throw new Error(`internal: ${other.join(', ')} granted on "*"`);
    out.push({ id: 'AwsSolutions-IAM5', reason: `Resource "*" only for ${why.join('; ')}.`, appliesTo: ['Resource::*'] });
  }
  out.push({
    id: 'AwsSolutions-IAM5',
    reason: 'logs:CreateLogStream and logs:PutLogEvents on the functions\' own log groups ' +
      `(${functionNames.map((n) => `/aws/lambda/${n}`).join(', ')}): Lambda names the log streams at run ` +
      'time, so the ARN ends in :* (log-stream:<name>).',
    appliesTo: functionNames.map((n) => ({
      regex: `/^Resource::arn:<AWS::Partition>:logs:.+:log-group:\\/aws\\/lambda\\/${n}:\\*$/`,
    })),
  });
  if (props.reportResource === 'application' && props.codeDeploy) {
    out.push({
      id: 'AwsSolutions-IAM5',
      reason: `-c reportResource=application: the report is allowed for every deployment group of ${props.applicationName} ` +
        '(deploymentgroup:<application>/*), as in AWS\'s CodeDeploy SAM tutorial, by the user\'s choice.',
      appliesTo: [{
        regex: `/^Resource::arn:<AWS::Partition>:codedeploy:.+:deploymentgroup:${escapeRegex(props.applicationName)}\\/\\*$/`,
      }],
    });
  }
  return out;
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** The runtime's default reserve for a function timeout (src/config.c, config_reserve_ms). */
export function reserveMsFor(p: Pick<HookhostProps, 'reserveMs' | 'timeoutSeconds'>): number {
  if (p.reserveMs !== undefined) return p.reserveMs;
  return Math.min(10000, Math.max(300, Math.floor((p.timeoutSeconds * 1000) / 10)));
}

/** The hook scripts that will run (besides the auto handler's), once the settings are valid. */
interface Scripts {
  readonly codeDeploy: string[];
  readonly ecs: EcsStage[];
  readonly all: string[];
}

function validate(p: HookhostProps): Scripts {
  const problems: string[] = [];
  if (p.distributionId && !/^[A-Z0-9]{1,64}$/.test(p.distributionId)) problems.push(`distributionId '${p.distributionId}': expected a CloudFront distribution id such as E2EXAMPLE123`);
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(p.namePrefix)) problems.push(`namePrefix '${p.namePrefix}': 1 to 20 of A-Z a-z 0-9 _ -`);
  if (!p.codeDeploy && !p.ecsNative) problems.push('nothing to deploy: no CodeDeploy hooks and no ecsNative');
  // The scripts that will run, to check their settings below.
  const scripts: string[] = [];
  const codeDeployScripts: string[] = [];
  if (p.codeDeploy) {
    if (!/^[A-Za-z0-9_.+-]{1,100}$/.test(p.applicationName)) problems.push(`applicationName '${p.applicationName}': letters, digits, _ . + - only`);
    if (!/^[A-Za-z0-9_.+-]{1,100}$/.test(p.deploymentGroupName)) problems.push(`deploymentGroupName '${p.deploymentGroupName}': letters, digits, _ . + - only`);
    if (!p.autoHandler) {
      if (p.hooks.length === 0) problems.push('hooks: name at least one lifecycle event');
      const seen = new Set<string>();
      for (const h of p.hooks) {
        if (!(ECS_HOOKS as readonly string[]).includes(h)) problems.push(`hooks: '${h}' is not an ECS lifecycle event (${ECS_HOOKS.join(', ')})`);
        if (seen.has(h)) problems.push(`hooks: '${h}' is named twice`);
        seen.add(h);
      }
      codeDeployScripts.push(...seen);
      scripts.push(...seen);
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
  const invalidates = (p.codeDeploy && p.autoHandler) || scripts.includes('AfterAllowTraffic');
  if (invalidates && !p.distributionId) {
    problems.push(`missing context value: -c distributionId=... (${p.autoHandler && p.codeDeploy ? 'the auto handler runs' : 'hooks:'} AfterAllowTraffic, the CloudFront invalidation)`);
  }
  if (scripts.includes('BeforeAllowTraffic') && p.alarmNames.length === 0 && !p.alarmPrefix) {
    problems.push('hooks: BeforeAllowTraffic (the alarm gate) needs -c alarmNames=... and/or -c alarmPrefix=...');
  }
  if (scripts.includes('AfterAllowTestTraffic') && !p.testUrl) {
    problems.push('hooks: AfterAllowTestTraffic (the smoke test) needs -c testUrl=http://<test listener>/...');
  }
  if (p.testUrl && !/^https?:\/\/[^/\s]+\S*$/.test(p.testUrl)) problems.push(`testUrl '${p.testUrl}': an http:// or https:// URL`);
  // Credentials in the URL would be in plain text in the template and the function's settings.
  if (/^https?:\/\/[^/?#\s]*@/.test(p.testUrl)) {
    problems.push('testUrl: has user:password@ in it, which would be stored in plain text in the template and the ' +
      'function configuration; test an endpoint that needs no credentials');
  }
  if (p.testExpectStatus && !/^[1-5][0-9][0-9]$/.test(p.testExpectStatus)) problems.push(`testExpectStatus '${p.testExpectStatus}': an HTTP status, 100 to 599`);
  if (p.testRetries && !(/^[0-9]{1,2}$/.test(p.testRetries) && Number(p.testRetries) <= 50)) problems.push(`testRetries '${p.testRetries}': 0 to 50`);
  if (p.testTimeoutMs && !(/^[0-9]{1,6}$/.test(p.testTimeoutMs) && Number(p.testTimeoutMs) >= 1 && Number(p.testTimeoutMs) <= 900000)) {
    problems.push(`testTimeoutMs '${p.testTimeoutMs}': 1 to 900000 ms`);
  }
  if (p.invalidationWait && !['true', 'false'].includes(p.invalidationWait)) problems.push(`invalidationWait '${p.invalidationWait}': true or false`);
  if (!(Number.isInteger(p.timeoutSeconds) && p.timeoutSeconds >= 1 && p.timeoutSeconds <= 900)) {
    problems.push(`timeoutSeconds ${p.timeoutSeconds}: 1 to 900 seconds`);
  } else if (p.reserveMs !== undefined && !(Number.isInteger(p.reserveMs) && p.reserveMs >= 0 && p.reserveMs <= 600000)) {
    problems.push(`reserveMs ${p.reserveMs}: 0 to 600000 ms (HOOKHOST_RESERVE_MS)`);
  } else {
    // The runtime stops the script at deadline - reserve to report: what is left is the script's.
    const reserve = reserveMsFor(p);
    const scriptMs = p.timeoutSeconds * 1000 - reserve;
    if (scriptMs < MIN_SCRIPT_MS) {
      problems.push(`timeoutSeconds ${p.timeoutSeconds}: leaves the script ${scriptMs} ms after the runtime's ` +
        `${reserve} ms reserve for the report; it needs at least ${MIN_SCRIPT_MS} ms (raise timeoutSeconds` +
        `${p.reserveMs !== undefined ? ' or lower reserveMs' : ''})`);
    }
    if (invalidates && p.invalidationWait === 'true' && scriptMs < INVALIDATION_WAIT_SCRIPT_MS) {
      const need = Math.ceil((INVALIDATION_WAIT_SCRIPT_MS + reserve) / 1000);
      const fix = need <= 900
        ? `set -c timeoutSeconds=${need} or more (900, the default with invalidationWait=true, when not set)`
        : `lower -c reserveMs to ${900_000 - INVALIDATION_WAIT_SCRIPT_MS} or less with -c timeoutSeconds=900`;
      problems.push(`invalidationWait=true: an invalidation can take up to the 10 minutes the AWS SDK's waiter ` +
        `polls, and a timed-out AfterAllowTraffic fails after production traffic has moved; timeoutSeconds ` +
        `${p.timeoutSeconds} leaves ${Math.floor(scriptMs / 1000)} s after the reserve: ${fix}`);
    }
  }
  if (!(Number.isInteger(p.memoryMb) && p.memoryMb >= 128 && p.memoryMb <= 10240)) problems.push(`memoryMb ${p.memoryMb}: 128 to 10240 MB`);
  if (p.logLevel && !(LOG_LEVELS as readonly string[]).includes(p.logLevel)) problems.push(`logLevel '${p.logLevel}': one of ${LOG_LEVELS.join(', ')}`);
  if (!(Number.isInteger(p.maxEventAgeSeconds) && p.maxEventAgeSeconds >= 60 && p.maxEventAgeSeconds <= 3600)) {
    problems.push(`maxEventAgeSeconds ${p.maxEventAgeSeconds}: 60 to 3600 (CodeDeploy waits one hour for a report)`);
  }
  if (!(Number.isInteger(p.retryAttempts) && p.retryAttempts >= 0 && p.retryAttempts <= 2)) problems.push(`retryAttempts ${p.retryAttempts}: 0 to 2`);
  if (p.onFailureArn && !DESTINATION_ARN.test(p.onFailureArn)) {
    problems.push(`onFailureArn '${p.onFailureArn}': the ARN of an SQS queue, SNS topic, Lambda function or EventBridge event bus`);
  }
  if (p.onFailureArn && !p.codeDeploy) problems.push('onFailureArn: a setting of the CodeDeploy functions (ECS invokes its hook synchronously)');
  if (p.errorAlarmTopicArn && !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$/.test(p.errorAlarmTopicArn)) {
    problems.push(`errorAlarmTopicArn '${p.errorAlarmTopicArn}': the ARN of an SNS topic`);
  }
  if (problems.length > 0) throw new Error(`hookhost stack: ${problems.join('; ')}`);
  return { codeDeploy: codeDeployScripts, ecs: p.ecsStages, all: scripts };
}

/** The runtime layer of the functions' architecture: `make dist` writes layer.zip (x86_64),
 * `make dist ARCH=arm64` layer-arm64.zip. hooks-only.zip holds no machine code: one for both. */
function layerZipOf(p: HookhostProps): string {
  return path.join(p.distDir, p.architecture === 'arm64' ? 'layer-arm64.zip' : 'layer.zip');
}

/**
 * What the packages must hold for the stack to work: a bootstrap of the functions' architecture
 * in its layer zip (else every invocation fails to start and every hook waits CodeDeploy's hour),
 * and in hooks-only.zip the script of every hook and ECS stage deployed (else each reports
 * Failed on every deployment). The auto handler's hooks are the AppSpec's: not known here.
 */
function checkPackages(p: HookhostProps, scripts: Scripts): void {
  const problems: string[] = [];
  const layerZip = layerZipOf(p);
  const hooksZip = path.join(p.distDir, 'hooks-only.zip');
  try {
    const got = elfArchitecture(zipHead(layerZip, 'bootstrap', 64));
    if (got !== p.architecture) {
      problems.push(`architecture ${p.architecture}: the bootstrap in ${layerZip} is ${got}` +
        (got === 'x86_64' || got === 'arm64' ? ` (rebuild it with \`make dist${p.architecture === 'arm64' ? ' ARCH=arm64' : ''}\`, or set -c architecture=${got})` : ''));
    }
  } catch (e) {
    problems.push((e as Error).message);
  }
  try {
    const entries = zipEntries(hooksZip);
    const has = (script: string) => entries.has(`hooks/${script}.lua`);
    for (const h of scripts.codeDeploy) {
      if (!has(h)) problems.push(`hooks: ${h} has no script hooks/${h}.lua in ${hooksZip} (add lua/hooks/${h}.lua and run make dist)`);
    }
    for (const st of scripts.ecs) {
      // Under _HANDLER=auto an ECS event runs hooks/<STAGE>.lua, else the mapped script.
      if (!has(st.stage) && !has(ecsScript(st))) {
        problems.push(`ecsStages: ${st.stage} has no script hooks/${ecsScript(st)}.lua in ${hooksZip}`);
      }
    }
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (problems.length > 0) throw new Error(`hookhost stack: ${problems.join('; ')}`);
}
