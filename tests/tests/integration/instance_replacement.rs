//! A stack update that changes what the group launches (a new launch template version, new
//! subnets) reaches Datero: `functions/task-runner` stops Datero cleanly, replaces the outdated
//! instance, and runs Datero on the new one; with the data on the instance's disk it refuses.
//! The emulator keeps a group's instances when its launch template changes, as AWS does, and
//! each instance reports the version it was launched from.

use aws_config::SdkConfig;
use datero_testbed::emulator::Emulator;
use datero_testbed::events;
use datero_testbed::harness::FunctionHarness;
use datero_testbed::seed::{self, Agent, CLUSTER, FAMILY, GROUP, PROVIDER};
use serde_json::{Value, json};

const TYPE: &str = "Custom::DateroTask";

struct Bed {
    harness: FunctionHarness,
    config: SdkConfig,
    revision: String,
    template_id: String,
    subnet: String,
    _agent: Agent,
}

async fn bed() -> Bed {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    let (group, template_id) = seed::launch_template_group(&config).await;
    seed::attach_group(&config, &group).await;
    let agent = Agent::start(&config);
    let revision = seed::task_definition(&config, FAMILY).await;
    let harness = FunctionHarness::start_on(emulator, "task-runner", &[]).await;
    let subnet = seed::default_subnets(&config).await.remove(0);
    Bed {
        harness,
        config,
        revision,
        template_id,
        subnet,
        _agent: agent,
    }
}

impl Bed {
    fn properties(&self, settings: &str, replacement: &str) -> Value {
        json!({
            "ClusterName": CLUSTER,
            "CapacityProviderName": PROVIDER,
            "TaskDefinitionArn": self.revision,
            "AutoScalingGroupName": GROUP,
            "InstanceSettings": settings,
            "InstanceReplacement": replacement,
        })
    }

    /// What CloudFormation does to the group before it updates the custom resource: a new
    /// launch template version (another instance type), and the group launches it from now on.
    async fn new_launch_template_version(&self) {
        aws_sdk_ec2::Client::new(&self.config)
            .create_launch_template_version()
            .launch_template_id(&self.template_id)
            .launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                    .image_id("ami-12c6146b")
                    .instance_type(aws_sdk_ec2::types::InstanceType::T3Medium)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        aws_sdk_autoscaling::Client::new(&self.config)
            .update_auto_scaling_group()
            .auto_scaling_group_name(GROUP)
            .launch_template(
                aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                    .launch_template_id(&self.template_id)
                    .version("2")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// (instance id, launch template version) of the group's instances.
    async fn instances(&self) -> Vec<(String, String)> {
        seed::describe_group(&self.config, GROUP)
            .await
            .unwrap()
            .instances()
            .iter()
            .map(|i| {
                (
                    i.instance_id().unwrap_or_default().to_owned(),
                    i.launch_template()
                        .and_then(|t| t.version())
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }

    async fn datero_instance(&self) -> (aws_sdk_ecs::types::Task, String) {
        let wanted = seed::wanted(&self.config).await;
        assert_eq!(wanted.len(), 1, "{wanted:?}");
        let task = wanted[0].clone();
        let instance = seed::instance_of_task(&self.config, &task).await;
        (task, instance)
    }
}

#[tokio::test]
async fn a_new_launch_template_version_moves_datero_to_a_new_instance() {
    let bed = bed().await;
    let old_settings = format!("1 {}", bed.subnet);
    let created = bed
        .harness
        .request(events::create(
            TYPE,
            bed.properties(&old_settings, "replace"),
            "",
        ))
        .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let (old_task, old_instance) = bed.datero_instance().await;

    bed.new_launch_template_version().await;
    // The group alone keeps its instance with the old settings.
    assert_eq!(bed.instances().await, [(old_instance.clone(), "1".into())]);

    let id = format!("{CLUSTER}/datero");
    let answer = bed
        .harness
        .request(events::update(
            TYPE,
            &id,
            bed.properties(&old_settings, "replace"),
            bed.properties(&format!("2 {}", bed.subnet), "replace"),
            "",
        ))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let (new_task, new_instance) = bed.datero_instance().await;
    assert_ne!(
        new_instance, old_instance,
        "Datero is still on the old instance"
    );
    assert_eq!(new_task.last_status(), Some("RUNNING"));
    assert_eq!(answer["Data"]["TaskArn"], new_task.task_arn().unwrap());
    // The old instance is gone; its replacement was launched from the new version.
    assert_eq!(bed.instances().await, [(new_instance, "2".into())]);
    // Datero was stopped by the provisioner (its stop timeout), not killed with its instance.
    let stopped = seed::stopped(&bed.config, old_task.task_arn().unwrap()).await;
    assert_eq!(
        stopped.stopped_reason(),
        Some("datero-provisioner: its instance is replaced by a stack update")
    );
    let decisions: Vec<String> = bed
        .harness
        .decision_lines()
        .iter()
        .map(|line| line["decision"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        decisions.contains(&"replace-instances".to_owned()),
        "{decisions:?}"
    );
}

#[tokio::test]
async fn with_the_data_on_the_instance_the_replacement_is_refused_and_nothing_stops() {
    let bed = bed().await;
    let old_settings = format!("1 {}", bed.subnet);
    let created = bed
        .harness
        .request(events::create(
            TYPE,
            bed.properties(&old_settings, "refuse"),
            "",
        ))
        .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let (task, instance) = bed.datero_instance().await;
    bed.new_launch_template_version().await;
    let answer = bed
        .harness
        .request(events::update(
            TYPE,
            &format!("{CLUSTER}/datero"),
            bed.properties(&old_settings, "refuse"),
            bed.properties(&format!("2 {}", bed.subnet), "refuse"),
            "",
        ))
        .await;
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("DataPersistence=instance")
            && reason.contains("AllowInstanceDataLoss=true"),
        "{reason}"
    );
    // Nothing was stopped or terminated.
    let (still, on) = bed.datero_instance().await;
    assert_eq!(still.task_arn(), task.task_arn());
    assert_eq!(still.last_status(), Some("RUNNING"));
    assert_eq!(on, instance);
    assert_eq!(bed.instances().await, [(instance, "1".into())]);
}

#[tokio::test]
async fn unchanged_instance_settings_keep_datero_where_it_runs() {
    let bed = bed().await;
    let settings = format!("1 {}", bed.subnet);
    let created = bed
        .harness
        .request(events::create(
            TYPE,
            bed.properties(&settings, "replace"),
            "",
        ))
        .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let (task, instance) = bed.datero_instance().await;
    // New settings text, but every instance already has the group's settings (a repeat).
    let answer = bed
        .harness
        .request(events::update(
            TYPE,
            &format!("{CLUSTER}/datero"),
            bed.properties(&settings, "replace"),
            bed.properties(&format!("{settings} "), "replace"),
            "",
        ))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let (kept, on) = bed.datero_instance().await;
    assert_eq!(kept.task_arn(), task.task_arn());
    assert_eq!(on, instance);
}
