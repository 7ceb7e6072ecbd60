//! The whole life of the stack on the local AWS emulator, with the real function binaries:
//! what `scripts/lifecycle` runs, and the project's end-to-end test.

pub mod address;
pub mod backups;
pub mod cloudformation;
pub mod infrastructure;
pub mod progress;
pub mod upgrade;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use datero_shared::resources::cluster::ClusterSpec;
use datero_shared::resources::task::TaskSpec;
use datero_shared::resources::task_definition::TaskDefinitionSpec;
use serde_json::{Value, json};

use crate::emulator::{Emulator, Timing};
use crate::events;
use crate::harness;
use crate::seed;
use crate::template::{Stack, Template};
use cloudformation::{CloudFormation, Function};
use progress::Progress;

/// What the user asked for: a stack name and parameter overrides (`Name=value`).
#[derive(Debug, Clone)]
pub struct Options {
    pub stack_name: String,
    pub parameters: BTreeMap<String, Value>,
    /// The image tag the update step rolls onto.
    pub next_image: String,
}

impl Options {
    /// Reads `Name=value` arguments; `StackName=` names the stack.
    pub fn parse(arguments: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut options = Self {
            stack_name: "datero-local".to_owned(),
            parameters: BTreeMap::new(),
            next_image: "chumaky/datero:1.3.0".to_owned(),
        };
        for argument in arguments {
            let (name, value) = argument
                .split_once('=')
                .ok_or_else(|| format!("expected Name=value, got {argument:?} (for example DateroImage=chumaky/datero:1.2.0)"))?;
            match name {
                "StackName" => options.stack_name = value.to_owned(),
                "NextImage" => options.next_image = value.to_owned(),
                _ => {
                    options.parameters.insert(name.to_owned(), json!(value));
                }
            }
        }
        Ok(options)
    }

    fn stack(&self, template: &Template) -> Stack {
        let mut stack = Stack::placeholder(template, &self.stack_name);
        stack.parameters.extend(self.parameters.clone());
        stack
    }
}

/// Refuses bad input before anything starts: parameters against the template, then every
/// custom resource's properties through the function's own parser.
pub fn check(template: &Template, options: &Options) -> Result<(), String> {
    let stack = options.stack(template);
    template.check_parameters(&stack)?;
    template.check_rules(&stack)?;
    let parse = |resource: &str| -> Result<(), String> {
        let properties = template.properties(resource, &stack)?;
        let checked = match template.resource(resource)["Type"]
            .as_str()
            .unwrap_or_default()
        {
            "Custom::DateroCluster" => ClusterSpec::parse(&properties, &stack.name).map(drop),
            "Custom::DateroTaskDefinition" => TaskDefinitionSpec::parse(&properties).map(drop),
            "Custom::DateroTask" => TaskSpec::parse(&properties).map(drop),
            // Its properties are the stack's own resources (and CloudFormation-typed
            // parameters), not the user's free text.
            _ => Ok(()),
        };
        checked.map_err(|error| format!("{resource}: {error}"))
    };
    for resource in template.custom_resources_in_order() {
        if template.exists(&resource, &stack)? {
            parse(&resource)?;
        }
    }
    let mut next = options.clone();
    next.parameters
        .insert("DateroImage".into(), json!(options.next_image));
    let next_stack = next.stack(template);
    TaskDefinitionSpec::parse(&template.properties("TaskDefinition", &next_stack)?)
        .map(drop)
        .map_err(|error| format!("NextImage: {error}"))
}

/// Runs a named step: prints its outcome and records it for the summary.
pub(crate) async fn step<T>(
    progress: &Progress,
    name: &str,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match work.await {
        Ok(value) => {
            progress.passed(name);
            Ok(value)
        }
        Err(error) => {
            progress.failed(name);
            Err(format!("step \"{name}\" failed: {error}"))
        }
    }
}

/// The stack's whole life. Returns the first failing step's error.
#[expect(
    clippy::too_many_lines,
    reason = "the stack's life in order, one step or call per stage"
)]
pub async fn run(
    template: &Template,
    options: &Options,
    progress: &Progress,
) -> Result<(), String> {
    let emulator = step(progress, "start the local AWS emulator", async {
        Ok(Emulator::start().await)
    })
    .await?;
    progress.event("emulator", "STARTED", emulator.endpoint());
    // PostgreSQL's data-directory check, played for the images this lifecycle runs.
    let first_image = match options.parameters.get("DateroImage") {
        Some(image) => image.as_str().unwrap_or_default().to_owned(),
        None => template.yaml()["Parameters"]["DateroImage"]["Default"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    emulator
        .set_postgres_majors(&[
            (first_image.as_str(), upgrade::CURRENT_MAJOR),
            (&options.next_image, upgrade::CURRENT_MAJOR),
            (upgrade::NEW_MAJOR_IMAGE, upgrade::NEW_MAJOR),
        ])
        .await;
    let config = emulator.sdk_config().await;
    let mut stack = options.stack(template);
    stack.refs.clear();
    stack.attributes.clear();

    step(
        progress,
        "create the stack's AWS resources (network, secret, logs, EFS, group, queue)",
        async {
            infrastructure::make(emulator.endpoint(), &config, template, &mut stack, progress).await
        },
    )
    .await?;
    step(
        progress,
        "create the backup bucket as the template configures it",
        backups::make_bucket(&emulator, template, &mut stack, progress),
    )
    .await?;

    // From here on, AWS's timing: slow stops, eventual consistency.
    emulator.set_timing(Timing::AWS_LIKE).await;
    let cloudformation = CloudFormation::start(template, &stack, &emulator).await?;
    let (elastic_ip, task) = create_custom_resources(
        template,
        &cloudformation,
        &emulator,
        &config,
        &mut stack,
        progress,
    )
    .await?;
    heal(
        template,
        &emulator,
        &config,
        &stack,
        elastic_ip.as_ref(),
        &task,
        progress,
    )
    .await?;
    backups::backup_and_restore(&emulator, &config, template, &stack, progress).await?;
    update_and_delete(
        template,
        options,
        &cloudformation,
        &emulator,
        &config,
        &mut stack,
        progress,
    )
    .await
}

/// A new image rolls out; then the stack is deleted and leaves nothing behind.
async fn update_and_delete(
    template: &Template,
    options: &Options,
    cloudformation: &CloudFormation,
    emulator: &Emulator,
    config: &SdkConfig,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    step(
        progress,
        "a new image tag, instance type and subnets (one swapped within its zone, a zone added): every zone keeps or gets a mount target; Datero moves to a new instance on the new revision; the old revision is deregistered",
        new_image(template, options, cloudformation, config, stack, progress),
    )
    .await?;
    step(
        progress,
        "a new PostgreSQL major: the image alone moves Datero's data by dump and restore into a folder of its own, each step timed, the old data kept; going back to the old major is refused and rolled back",
        upgrade::new_major(template, cloudformation, emulator, config, stack, progress),
    )
    .await?;
    step(
        progress,
        "delete the stack in reverse order; the group is deletable",
        async {
            backups::deregister_task_definitions(emulator, stack, progress).await?;
            delete_stack(template, cloudformation, emulator, config, stack, progress).await
        },
    )
    .await?;
    step(
        progress,
        "the emulator holds nothing of ours",
        nothing_left(emulator, config, stack),
    )
    .await?;
    step(
        progress,
        "the backup bucket is kept, like the data",
        backups::bucket_is_kept(emulator, stack),
    )
    .await?;
    Ok(())
}

/// The custom resources in dependency order, with the instance that managed scaling would
/// launch once the cluster exists; returns the Elastic IP keeper (public mode) and Datero's task.
async fn create_custom_resources(
    template: &Template,
    cloudformation: &CloudFormation,
    emulator: &Emulator,
    config: &SdkConfig,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(Option<Function>, String), String> {
    let mut elastic_ip = None;
    for resource in template.custom_resources_in_order() {
        if !template.exists(&resource, stack)? {
            continue;
        }
        let name = format!("create {resource}");
        step(
            progress,
            &name,
            cloudformation.create(template, &resource, stack, progress),
        )
        .await?;
        if resource == "Edge" {
            step(
                progress,
                "CloudFront's rule on the instance's group; its function and distribution",
                infrastructure::cloudfront(emulator, config, template, stack, progress),
            )
            .await?;
        }
        if resource == "Cluster" {
            elastic_ip = after_cluster(template, emulator, config, stack, progress).await?;
        }
    }
    let task = step(
        progress,
        "Datero's task is RUNNING",
        running_task(config, stack),
    )
    .await?;
    if elastic_ip.is_some() {
        step(
            progress,
            "DateroUrl answers: CloudFront's URL whose origin is the Elastic IP's name, only CloudFront reaching the proxy (or, in the plain-HTTP escape, the Elastic IP from AllowedCidr); the address is on Datero's instance",
            address::check_public(template, config, stack, &task, progress),
        )
        .await?;
    } else {
        step(
            progress,
            "private mode: no Elastic IP, no inbound rule, a command opens the UI",
            address::check_private(template, config, stack, progress),
        )
        .await?;
    }
    Ok((elastic_ip, task))
}

/// Once the cluster exists: the Elastic IP keeper (public mode), the instance managed scaling
/// launches, and the backup and restore task definitions, before Datero's task, which names them
/// (a move to a new major runs them).
async fn after_cluster(
    template: &Template,
    emulator: &Emulator,
    config: &SdkConfig,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<Option<Function>, String> {
    let elastic_ip = start_event_function(template, stack, emulator, "ElasticIpFunction").await?;
    step(
        progress,
        "managed scaling launches an instance; the ECS agent registers it",
        launch_instance(config, stack, elastic_ip.as_ref(), progress),
    )
    .await?;
    step(
        progress,
        "register the backup and restore task definitions; create the backup schedule",
        backups::register_task_definitions(emulator, template, stack, progress),
    )
    .await?;
    Ok(elastic_ip)
}

/// Datero heals: a crash is restarted once, repeats start nothing, a replaced instance gets the
/// address, and every decision was written as a metric.
async fn heal(
    template: &Template,
    emulator: &Emulator,
    config: &SdkConfig,
    stack: &Stack,
    elastic_ip: Option<&Function>,
    task: &str,
    progress: &Progress,
) -> Result<(), String> {
    let restarter = start_event_function(template, stack, emulator, "TaskRestarterFunction")
        .await?
        .ok_or("the template has no TaskRestarterFunction")?;
    let restarted = step(
        progress,
        "Datero crashes; the restarter starts exactly one new task",
        crash_and_restart(emulator, config, stack, &restarter, task, progress),
    )
    .await?;
    step(
        progress,
        "the same STOPPED event twice more starts nothing",
        repeat_event(config, stack, &restarter, &restarted, progress),
    )
    .await?;
    if let Some(elastic_ip) = elastic_ip {
        step(
            progress,
            "the instance is replaced; the Elastic IP follows it; the URL stays the same",
            address::replace_instance(
                template, config, stack, &restarter, elastic_ip, &restarted, progress,
            ),
        )
        .await?;
    }
    step(
        progress,
        "office hours: a scheduled stop leaves Datero stopped; a start (twice) runs one task",
        office_hours(config, stack, &restarter, progress),
    )
    .await?;
    let mut emitting = vec![("restarter", &restarter)];
    emitting.extend(elastic_ip.map(|function| ("elastic-ip", function)));
    step(
        progress,
        "the restarts and address moves were written as CloudWatch metrics (EMF)",
        async { emitted_metrics(&emitting, progress) },
    )
    .await?;
    Ok(())
}

/// What EventBridge Scheduler sends at the end and the start of office hours (the product's own
/// event, `shared::schedule`), played against the running stack.
async fn office_hours(
    config: &SdkConfig,
    stack: &Stack,
    restarter: &Function,
    progress: &Progress,
) -> Result<(), String> {
    let invoke = |event: Value| restarter.invoke_ok(event, "the restarter");
    let running = running_task(config, stack).await?;
    invoke(json!({"schedule": "stop", "scheduledTime": "2026-11-26T19:00:00Z"})).await?;
    if !wanted(config, stack).await?.is_empty() {
        return Err("Datero still runs after the scheduled stop".to_owned());
    }
    progress.event("DateroStopSchedule", "FIRED", "Datero stopped");
    // Its STOPPED event, once ECS has stopped it, is the provisioner's own: no restart.
    tokio::time::sleep(Duration::from_secs(3)).await;
    invoke(stopped_event(config, stack, &running).await?).await?;
    if !wanted(config, stack).await?.is_empty() {
        return Err("the restarter restarted a scheduled stop".to_owned());
    }
    progress.event(
        "TaskRestarterFunction",
        "SKIPPED",
        "the scheduled stop's STOPPED event",
    );
    let start = json!({"schedule": "start", "scheduledTime": "2026-11-27T07:00:00Z"});
    for _ in 0..2 {
        invoke(start.clone()).await?;
    }
    let started = running_task(config, stack).await?;
    progress.event(
        "DateroStartSchedule",
        "FIRED",
        &format!("one task: {started}"),
    );
    Ok(())
}

/// Prints every metric the event functions wrote as EMF lines (what CloudWatch Logs would
/// extract), and fails when the restart the run made is not among them.
fn emitted_metrics(functions: &[(&str, &Function)], progress: &Progress) -> Result<(), String> {
    let mut restarts = 0.0;
    for (name, function) in functions {
        for line in harness::metric_lines(&function.process.logs()) {
            let dimensions = ["ClusterName", "Reason"]
                .iter()
                .filter_map(|key| line[*key].as_str().map(|value| format!("{key}={value}")))
                .collect::<Vec<_>>()
                .join(",");
            for (metric, value) in harness::metric_values(std::slice::from_ref(&line)) {
                if metric == datero_shared::metrics::RESTARTS {
                    restarts += value;
                }
                progress.event(
                    &format!("metric ({name})"),
                    &format!("{}/{metric}", datero_shared::metrics::NAMESPACE),
                    &format!("{value} [{dimensions}]"),
                );
            }
        }
    }
    if restarts < 1.0 {
        return Err("the restarter wrote no Restarts metric for the crash".to_owned());
    }
    Ok(())
}

pub(crate) fn cluster_name(stack: &Stack) -> String {
    stack
        .attributes
        .get("Cluster.ClusterName")
        .cloned()
        .unwrap_or_default()
}

fn family(stack: &Stack) -> String {
    stack
        .attributes
        .get("TaskDefinition.Family")
        .cloned()
        .unwrap_or_default()
}

async fn launch_instance(
    config: &SdkConfig,
    stack: &Stack,
    elastic_ip: Option<&Function>,
    progress: &Progress,
) -> Result<(), String> {
    let group = &stack.refs["Instances"];
    aws_sdk_autoscaling::Client::new(config)
        .set_desired_capacity()
        .auto_scaling_group_name(group)
        .desired_capacity(1)
        .send()
        .await
        .map_err(|e| format!("SetDesiredCapacity: {e}"))?;
    let described = seed::describe_group(config, group)
        .await
        .ok_or("the group is gone")?;
    let registered = seed::register_instances(config, &cluster_name(stack), &described).await;
    let instance = described
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .unwrap_or_default()
        .to_owned();
    progress.event(
        "Instances",
        "SCALED_OUT",
        &format!(
            "{instance} registered as {}",
            registered.first().map(String::as_str).unwrap_or("?")
        ),
    );
    if registered.is_empty() {
        return Err("no container instance registered".to_owned());
    }
    // EventBridge delivers the instance's ACTIVE event; the elastic-ip function moves the
    // address (the instance itself runs nothing but the ECS agent).
    if let Some(elastic_ip) = elastic_ip {
        address::instance_joined(config, stack, elastic_ip, &instance, progress).await?;
    }
    Ok(())
}

/// The host of an `http://host[:port]/` URL.
pub(crate) fn url_host(url: &str) -> &str {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.split([':', '/']).next().unwrap_or_default()
}

/// The one Datero task ECS wants running, RUNNING.
pub(crate) async fn running_task(config: &SdkConfig, stack: &Stack) -> Result<String, String> {
    let wanted = wanted(config, stack).await?;
    match wanted.as_slice() {
        [(arn, status, _)] if status == "RUNNING" => Ok(arn.clone()),
        other => Err(format!("expected one RUNNING Datero task, found {other:?}")),
    }
}

/// `(arn, lastStatus, taskDefinitionArn)` of every Datero task ECS wants running.
async fn wanted(
    config: &SdkConfig,
    stack: &Stack,
) -> Result<Vec<(String, String, String)>, String> {
    let ecs = aws_sdk_ecs::Client::new(config);
    let cluster = cluster_name(stack);
    let listed = ecs
        .list_tasks()
        .cluster(&cluster)
        .family(family(stack))
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
        .send()
        .await
        .map_err(|e| format!("ListTasks: {e}"))?;
    if listed.task_arns().is_empty() {
        return Ok(Vec::new());
    }
    let described = ecs
        .describe_tasks()
        .cluster(&cluster)
        .set_tasks(Some(listed.task_arns().to_vec()))
        .send()
        .await
        .map_err(|e| format!("DescribeTasks: {e}"))?;
    Ok(described
        .tasks()
        .iter()
        .map(|t| {
            (
                t.task_arn().unwrap_or_default().to_owned(),
                t.last_status().unwrap_or_default().to_owned(),
                t.task_definition_arn().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// Starts the event-driven function `function` (a resource of the template) with its
/// environment resolved for `stack`; `None` when the stack has no such function (its condition
/// is false).
async fn start_event_function(
    template: &Template,
    stack: &Stack,
    emulator: &Emulator,
    function: &str,
) -> Result<Option<Function>, String> {
    if !template.exists(function, stack)? {
        return Ok(None);
    }
    let variables = template.resolve(
        &template.resource(function)["Properties"]["Environment"]["Variables"],
        stack,
    )?;
    let variables: Vec<(String, String)> = variables
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, value.as_str().unwrap_or_default().to_owned()))
        .collect();
    let env: Vec<(&str, String)> = variables
        .iter()
        .map(|(key, value)| (key.as_str(), value.clone()))
        .collect();
    let binary = template.resource(function)["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Function::start(template, stack, emulator, &binary, &env)
        .await
        .map(Some)
}

pub(crate) async fn stopped_event(
    config: &SdkConfig,
    stack: &Stack,
    task: &str,
) -> Result<Value, String> {
    let described = aws_sdk_ecs::Client::new(config)
        .describe_tasks()
        .cluster(cluster_name(stack))
        .tasks(task)
        .send()
        .await
        .map_err(|e| format!("DescribeTasks: {e}"))?;
    let task = described
        .tasks()
        .first()
        .ok_or("the stopped task is unknown")?;
    Ok(events::task_state_change(task, "lifecycle-crash"))
}

async fn crash_and_restart(
    emulator: &Emulator,
    config: &SdkConfig,
    stack: &Stack,
    restarter: &Function,
    task: &str,
    progress: &Progress,
) -> Result<String, String> {
    emulator
        .crash_task(&cluster_name(stack), task, 137, Duration::from_secs(3600))
        .await;
    progress.event(
        "Datero task",
        "STOPPED",
        "Essential container in task exited (137)",
    );
    let event = stopped_event(config, stack, task).await?;
    restarter.invoke_ok(event, "the restarter").await?;
    let restarted = running_task(config, stack).await?;
    if restarted == task {
        return Err("no new task".to_owned());
    }
    progress.event("Datero task", "RESTARTED", &restarted);
    Ok(restarted)
}

async fn repeat_event(
    config: &SdkConfig,
    stack: &Stack,
    restarter: &Function,
    restarted: &str,
    progress: &Progress,
) -> Result<(), String> {
    let stopped = aws_sdk_ecs::Client::new(config)
        .list_tasks()
        .cluster(cluster_name(stack))
        .family(family(stack))
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .map_err(|e| format!("ListTasks: {e}"))?;
    let crashed = stopped
        .task_arns()
        .first()
        .ok_or("no stopped task")?
        .clone();
    let event = stopped_event(config, stack, &crashed).await?;
    for _ in 0..2 {
        restarter
            .invoke_ok(event.clone(), "the restarter, on a repeated event,")
            .await?;
    }
    let now = running_task(config, stack).await?;
    progress.event("Datero task", "UNCHANGED", &now);
    if now == restarted {
        Ok(())
    } else {
        Err(format!("the task changed: {now}"))
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one lifecycle step (update, roll-out, old revision gone), read top to bottom"
)]
async fn new_image(
    template: &Template,
    options: &Options,
    cloudformation: &CloudFormation,
    config: &SdkConfig,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    let old_definition = template.properties("TaskDefinition", stack)?;
    let old_task = template.properties("DateroTask", stack)?;
    let old_mount_targets = if template.exists("MountTargets", stack)? {
        Some(template.properties("MountTargets", stack)?)
    } else {
        None
    };
    let old_arn = stack.refs["TaskDefinition"].clone();
    let old_instance = datero_instance(config, stack).await?;
    let before = stack.clone();
    stack
        .parameters
        .insert("DateroImage".into(), json!(options.next_image));
    // New subnets: the first swapped for another subnet of its zone, a third zone added.
    let subnets = infrastructure::subnets_for_update(config, stack).await?;
    stack.parameters.insert("SubnetIds".into(), json!(subnets));
    progress.event("SubnetIds", "UPDATED", &subnets.join(", "));
    stack
        .parameters
        .insert("InstanceType".into(), json!(NEXT_INSTANCE_TYPE));
    expect_the_updates_played(template, &before, stack, progress)?;
    if let Some(old) = old_mount_targets {
        cloudformation
            .update(template, "MountTargets", old, stack, progress)
            .await?;
    }
    // A new instance type: CloudFormation makes a new launch template version and points the
    // group at it; the group keeps its running instance (no UpdatePolicy).
    stack
        .parameters
        .insert("InstanceType".into(), json!(NEXT_INSTANCE_TYPE));
    infrastructure::launch_template_version(
        config,
        Some(&stack.refs["LaunchTemplate"]),
        NEXT_INSTANCE_TYPE,
    )
    .await?;
    aws_sdk_autoscaling::Client::new(config)
        .update_auto_scaling_group()
        .auto_scaling_group_name(&stack.refs["Instances"])
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&stack.refs["LaunchTemplate"])
                .version("2")
                .build(),
        )
        .vpc_zone_identifier(subnets.join(","))
        .send()
        .await
        .map_err(|e| format!("UpdateAutoScalingGroup: {e}"))?;
    stack
        .attributes
        .insert("LaunchTemplate.LatestVersionNumber".into(), "2".into());
    progress.event(
        "LaunchTemplate",
        "UPDATE_COMPLETE",
        &format!("version 2 ({NEXT_INSTANCE_TYPE})"),
    );
    // The ECS agent on whatever instance the group launches meanwhile.
    let _agent = seed::Agent::start_for(config, &stack.refs["Instances"], &cluster_name(stack));
    cloudformation
        .update_revision(template, old_definition.clone(), old_task, stack, progress)
        .await?;
    cloudformation
        .delete_revision(template, &old_arn, old_definition, progress)
        .await?;
    let new_arn = stack.refs["TaskDefinition"].clone();
    only_running(config, stack, &new_arn).await?;
    let new_instance = datero_instance(config, stack).await?;
    let described = aws_sdk_ec2::Client::new(config)
        .describe_instances()
        .instance_ids(&new_instance)
        .send()
        .await
        .map_err(|e| format!("DescribeInstances: {e}"))?;
    let instance_type = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find_map(|i| i.instance_type().map(|t| t.as_str().to_owned()))
        .unwrap_or_default();
    progress.event(
        "Instances",
        "REPLACED",
        &format!("Datero moved from {old_instance} to {new_instance} ({instance_type})"),
    );
    if new_instance == old_instance || instance_type != NEXT_INSTANCE_TYPE {
        return Err(format!(
            "Datero runs on {new_instance} ({instance_type}), expected a new {NEXT_INSTANCE_TYPE} instance"
        ));
    }
    if stack.attributes.contains_key("Eip.AllocationId") {
        let (holder, _) = address::address_holder(config, stack).await?;
        if holder != new_instance {
            return Err(format!(
                "the Elastic IP is on {holder}, not on Datero's new instance {new_instance}"
            ));
        }
        progress.event("Eip", "FOLLOWED", &new_instance);
    }
    let old = aws_sdk_ecs::Client::new(config)
        .describe_task_definition()
        .task_definition(&old_arn)
        .send()
        .await
        .map_err(|e| format!("DescribeTaskDefinition: {e}"))?;
    let status = old
        .task_definition()
        .and_then(|d| d.status())
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    progress.event(
        "TaskDefinition",
        "OLD_REVISION",
        &format!("{old_arn} is {status}"),
    );
    if status == "INACTIVE" {
        Ok(())
    } else {
        Err(format!("the old revision is {status}"))
    }
}

/// One Datero task is wanted, RUNNING, of the revision `arn`.
async fn only_running(config: &SdkConfig, stack: &Stack, arn: &str) -> Result<(), String> {
    let wanted = wanted(config, stack).await?;
    if wanted.len() == 1 && wanted[0].2 == arn && wanted[0].1 == "RUNNING" {
        Ok(())
    } else {
        Err(format!(
            "expected one RUNNING task of {arn}, found {wanted:?}"
        ))
    }
}

/// The instance type a stack update moves Datero to.
const NEXT_INSTANCE_TYPE: &str = "t3.medium";

/// The EC2 instance that runs Datero's one wanted task.
async fn datero_instance(config: &SdkConfig, stack: &Stack) -> Result<String, String> {
    let arn = running_task(config, stack).await?;
    address::instance_of_task(config, stack, &arn).await
}

/// Every task of the cluster is STOPPED.
async fn all_stopped(config: &SdkConfig, stack: &Stack) -> Result<(), String> {
    let ecs = aws_sdk_ecs::Client::new(config);
    let mut arns = Vec::new();
    for desired in [
        aws_sdk_ecs::types::DesiredStatus::Running,
        aws_sdk_ecs::types::DesiredStatus::Stopped,
    ] {
        let listed = ecs
            .list_tasks()
            .cluster(cluster_name(stack))
            .desired_status(desired)
            .send()
            .await
            .map_err(|e| format!("ListTasks: {e}"))?;
        arns.extend(listed.task_arns().iter().cloned());
    }
    let described = seed::describe_tasks_in(config, &cluster_name(stack), &arns).await;
    let running: Vec<String> = described
        .iter()
        .filter(|task| task.last_status() != Some("STOPPED"))
        .map(|task| {
            format!(
                "{} {}",
                task.task_arn().unwrap_or_default(),
                task.last_status().unwrap_or_default()
            )
        })
        .collect();
    if running.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "DateroTask answered its Delete while tasks still run: {running:?}"
        ))
    }
}

/// What CloudFormation does with each resource in this update, from the resource provider
/// schemas (`crate::cfn_update`): the parts this lifecycle plays must change as it plays them
/// (in place, none replaced), so that the played update is the one AWS would run.
fn expect_the_updates_played(
    template: &Template,
    before: &Stack,
    after: &Stack,
    progress: &Progress,
) -> Result<(), String> {
    use crate::cfn_update::{Change, Schemas, plan};
    // What this lifecycle does not make (roles, schedules...) gets the same stand-in value
    // before and after, so only real changes show.
    let filler = Stack::placeholder(template, &before.name);
    let filled = |stack: &Stack| {
        let mut stack = stack.clone();
        for (key, value) in &filler.refs {
            stack
                .refs
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        for (key, value) in &filler.attributes {
            stack
                .attributes
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        stack
    };
    let changes = plan(template, &Schemas::load()?, &filled(before), &filled(after))?;
    for (resource, change) in &changes {
        if *change != Change::Unchanged {
            progress.event(resource, "PLANNED", &format!("{change:?}"));
        }
    }
    let played = |resource: &str| changes.get(resource).cloned().unwrap_or(Change::Unchanged);
    let mut wrong = Vec::new();
    for resource in [
        "LaunchTemplate",
        "Instances",
        "TaskDefinition",
        "DateroTask",
    ] {
        if !matches!(played(resource), Change::Update(_)) {
            wrong.push(format!("{resource}: {:?}", played(resource)));
        }
    }
    if template.exists("MountTargets", after)?
        && !matches!(played("MountTargets"), Change::Update(_))
    {
        wrong.push(format!("MountTargets: {:?}", played("MountTargets")));
    }
    for kept in ["Cluster", "FileSystem", "Eip"] {
        if played(kept) != Change::Unchanged {
            wrong.push(format!("{kept}: {:?}", played(kept)));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "CloudFormation would not update as this lifecycle plays it: {}",
            wrong.join("; ")
        ))
    }
}

async fn delete_stack(
    template: &Template,
    cloudformation: &CloudFormation,
    emulator: &Emulator,
    config: &SdkConfig,
    stack: &Stack,
    progress: &Progress,
) -> Result<(), String> {
    for resource in template.custom_resources_in_order().iter().rev() {
        if !template.exists(resource, stack)? {
            continue;
        }
        if resource == "Edge" && template.exists("Distribution", stack)? {
            // The distribution and its function depend on the edge resource: gone first.
            infrastructure::delete_cloudfront(emulator, stack, progress).await?;
        }
        let properties = template.properties(resource, stack)?;
        progress.event(resource, "DELETE_IN_PROGRESS", "");
        cloudformation
            .delete(
                template,
                resource,
                &stack.refs[resource],
                properties,
                progress,
            )
            .await?;
        if resource == "DateroTask" {
            // CloudFormation deletes what the task depends on next: MountTargets, the EFS
            // mount targets. PostgreSQL must be down by then ("deleting a mount target breaks
            // any existing file system mounts", EFS guide).
            all_stopped(config, stack).await?;
        }
    }
    let group = &stack.refs["Instances"];
    aws_sdk_autoscaling::Client::new(config)
        .delete_auto_scaling_group()
        .auto_scaling_group_name(group)
        .force_delete(true)
        .send()
        .await
        .map_err(|e| format!("DeleteAutoScalingGroup {group}: {e}"))?;
    progress.event("Instances", "DELETE_COMPLETE", group);
    Ok(())
}

/// The distributions and CloudFront functions the emulator still holds.
async fn cloudfront_left(emulator: &Emulator) -> Result<Vec<String>, String> {
    let cloudfront = emulator.cloudfront("list", serde_json::json!({})).await?;
    let named = |kind: &str, what: &str| -> Vec<String> {
        cloudfront[kind]
            .as_array()
            .into_iter()
            .flatten()
            .map(|name| format!("{what} {}", name.as_str().unwrap_or_default()))
            .collect()
    };
    let mut left = named("distributions", "distribution");
    left.extend(named("functions", "CloudFront function"));
    Ok(left)
}

async fn nothing_left(
    emulator: &Emulator,
    config: &SdkConfig,
    stack: &Stack,
) -> Result<(), String> {
    let ecs = aws_sdk_ecs::Client::new(config);
    let mut left = Vec::new();
    left.extend(cloudfront_left(emulator).await?);
    let clusters = ecs
        .describe_clusters()
        .clusters(cluster_name(stack))
        .send()
        .await
        .map_err(|e| format!("DescribeClusters: {e}"))?;
    left.extend(
        clusters
            .clusters()
            .iter()
            .filter(|c| c.status() == Some("ACTIVE"))
            .map(|c| format!("cluster {}", c.cluster_name().unwrap_or_default())),
    );
    let providers = ecs
        .describe_capacity_providers()
        .send()
        .await
        .map_err(|e| format!("DescribeCapacityProviders: {e}"))?;
    left.extend(
        providers
            .capacity_providers()
            .iter()
            .map(|p| format!("capacity provider {}", p.name().unwrap_or_default())),
    );
    let revisions = ecs
        .list_task_definitions()
        .family_prefix(family(stack))
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .map_err(|e| format!("ListTaskDefinitions: {e}"))?;
    left.extend(
        revisions
            .task_definition_arns()
            .iter()
            .map(|arn| format!("task definition {arn}")),
    );
    left.extend(
        wanted(config, stack)
            .await?
            .into_iter()
            .map(|(arn, _, _)| format!("task {arn}")),
    );
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("left behind: {}", left.join(", ")))
    }
}
