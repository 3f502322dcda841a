// The hookhost runtime layer and one Lambda function per CodeDeploy lifecycle hook.
//
// Every permission is scoped to the ARN it acts on: the CloudFront distribution, the CodeDeploy
// deployment group, the alarms of the optional alarm gate, the functions' own log groups.
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

export interface HookhostProps extends StackProps {
  /** CloudFront distribution the AfterAllowTraffic hook invalidates (E2EXAMPLE123). */
  readonly distributionId: string;
  /** CodeDeploy application and deployment group whose hooks these functions report. */
  readonly applicationName: string;
  readonly deploymentGroupName: string;
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
  /** Function names are CodeDeployHook_<namePrefix>_<hook>; default hookhost. */
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
  public readonly functions: lambda.Function[] = [];

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

    const handlers = props.autoHandler ? ['auto'] : props.hooks;
    const names = handlers.map((h) => `CodeDeployHook_${props.namePrefix}_${h}`);

    // One role for every hook function: they share the same needs.
    const role = new iam.Role(this, 'HookRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'hookhost CodeDeploy hooks: invalidate one distribution, report to one deployment group',
    });

    const distributionArn = `arn:${partition}:cloudfront::${account}:distribution/${props.distributionId}`;
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
      const alarms = props.alarmNames.map((a) => `arn:${partition}:cloudwatch:${region}:${account}:alarm:${a}`);
      if (props.alarmPrefix) alarms.push(`arn:${partition}:cloudwatch:${region}:${account}:alarm:${props.alarmPrefix}*`);
      role.addToPolicy(new iam.PolicyStatement({
        sid: 'AlarmGate',
        actions: ['cloudwatch:DescribeAlarms'],
        resources: alarms,
      }));
    }
    // The basic execution permissions, on the functions' own log groups instead of "*".
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'Logs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: names.map((n) => `arn:${partition}:logs:${region}:${account}:log-group:/aws/lambda/${n}:*`),
    }));

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

    new CfnOutput(this, 'LayerArn', { value: layer.layerVersionArn });
  }
}

function validate(p: HookhostProps): void {
  const problems: string[] = [];
  if (!/^[A-Z0-9]{1,64}$/.test(p.distributionId)) problems.push(`distributionId '${p.distributionId}': expected a CloudFront distribution id such as E2EXAMPLE123`);
  if (!/^[A-Za-z0-9_.+-]{1,100}$/.test(p.applicationName)) problems.push(`applicationName '${p.applicationName}': letters, digits, _ . + - only`);
  if (!/^[A-Za-z0-9_.+-]{1,100}$/.test(p.deploymentGroupName)) problems.push(`deploymentGroupName '${p.deploymentGroupName}': letters, digits, _ . + - only`);
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(p.namePrefix)) problems.push(`namePrefix '${p.namePrefix}': 1 to 20 of A-Z a-z 0-9 _ -`);
  if (!p.autoHandler) {
    if (p.hooks.length === 0) problems.push('hooks: name at least one lifecycle event');
    for (const h of p.hooks) {
      if (!(ECS_HOOKS as readonly string[]).includes(h)) problems.push(`hooks: '${h}' is not an ECS lifecycle event (${ECS_HOOKS.join(', ')})`);
    }
  }
  for (const a of p.alarmNames) {
    if (!/^[^*?:,]{1,255}$/.test(a)) problems.push(`alarmNames: '${a}' (no wildcards or colons)`);
  }
  if (p.alarmPrefix && !/^[^*?:,]{1,255}$/.test(p.alarmPrefix)) problems.push(`alarmPrefix: '${p.alarmPrefix}' (no wildcards or colons)`);
  // A hook deployed without its settings reports Failed on every deployment: refuse it here.
  if (!p.autoHandler && p.hooks.includes('BeforeAllowTraffic') && p.alarmNames.length === 0 && !p.alarmPrefix) {
    problems.push('hooks: BeforeAllowTraffic (the alarm gate) needs -c alarmNames=... and/or -c alarmPrefix=...');
  }
  if (!p.autoHandler && p.hooks.includes('AfterAllowTestTraffic') && !p.testUrl) {
    problems.push('hooks: AfterAllowTestTraffic (the smoke test) needs -c testUrl=http://<test listener>/...');
  }
  if (p.testUrl && !/^https?:\/\/[^/\s]+\S*$/.test(p.testUrl)) problems.push(`testUrl '${p.testUrl}': an http:// or https:// URL`);
  if (p.testExpectStatus && !/^[1-5][0-9][0-9]$/.test(p.testExpectStatus)) problems.push(`testExpectStatus '${p.testExpectStatus}': an HTTP status, 100 to 599`);
  if (p.invalidationWait && !['true', 'false'].includes(p.invalidationWait)) problems.push(`invalidationWait '${p.invalidationWait}': true or false`);
  if (!(p.timeoutSeconds >= 1 && p.timeoutSeconds <= 900)) problems.push(`timeout ${p.timeoutSeconds}: 1 to 900 seconds`);
  if (!(p.memoryMb >= 128 && p.memoryMb <= 10240)) problems.push(`memory ${p.memoryMb}: 128 to 10240 MB`);
  if (problems.length > 0) throw new Error(`hookhost stack: ${problems.join('; ')}`);
}
