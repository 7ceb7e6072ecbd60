//! Backups in template.yaml: the tasks run exactly `shared::backup`'s scripts against the port
//! Datero's task publishes, a restore keeps the state it replaces first (and its role may put
//! nothing else), the bucket keeps dumps private, encrypted and for the chosen days,
//! the schedule starts the backup task through the capacity provider, and bad values are
//! refused before anything is made, naming the parameter.

use datero_shared::backup;
use datero_testbed::template::{Stack, Template};
use serde_json::{Value as Json, json};

fn stack_with(template: &Template, parameters: &[(&str, &str)]) -> Stack {
    Stack::placeholder(template, "teststack").with(parameters)
}

fn properties(template: &Template, stack: &Stack, resource: &str) -> Json {
    template
        .resolve(&template.resource(resource)["Properties"], stack)
        .unwrap()
        .unwrap()
}

fn container(task: &Json, name: &str) -> Json {
    task["ContainerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
        .clone()
}

fn env(container: &Json, name: &str) -> Option<String> {
    container["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair["Name"] == name)
        .and_then(|pair| pair["Value"].as_str().map(str::to_owned))
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "two task definitions, five containers, each checked against the script and the wiring it needs"
)]
fn the_tasks_run_the_tested_scripts_against_the_port_datero_publishes() {
    let template = Template::load().unwrap();
    let stack = stack_with(&template, &[]);
    let datero = properties(&template, &stack, "TaskDefinition");
    let postgres_port = datero["PostgresHostPort"].as_str().unwrap().to_owned();
    let image = template.parameter("DateroImage", &stack).unwrap();
    let scripts = [
        (
            "BackupTaskDefinition",
            backup::DUMP_CONTAINER,
            backup::DUMP_SCRIPT,
        ),
        (
            "BackupTaskDefinition",
            backup::UPLOAD_CONTAINER,
            backup::UPLOAD_SCRIPT,
        ),
        (
            "RestoreTaskDefinition",
            backup::KEEP_DUMP_CONTAINER,
            backup::DUMP_SCRIPT,
        ),
        (
            "RestoreTaskDefinition",
            backup::FETCH_CONTAINER,
            backup::FETCH_SCRIPT,
        ),
        (
            "RestoreTaskDefinition",
            backup::RESTORE_CONTAINER,
            backup::RESTORE_SCRIPT,
        ),
    ];
    for (task, name, script) in scripts {
        let definition = properties(&template, &stack, task);
        // 127.0.0.1 is the instance itself only in host network mode.
        assert_eq!(definition["NetworkMode"], "host", "{task}");
        assert_eq!(definition["RequiresCompatibilities"], json!(["EC2"]));
        let container = container(&definition, name);
        assert_eq!(
            container["EntryPoint"],
            json!(["sh", "-c"]),
            "{task}/{name}"
        );
        assert_eq!(
            container["Command"],
            json!([script]),
            "{task}/{name} runs another script"
        );
        // The keep-dump writes the state a restore replaces beside the fetched backup.
        let file = if name == backup::KEEP_DUMP_CONTAINER {
            backup::BEFORE_RESTORE_FILE
        } else {
            backup::BACKUP_FILE
        };
        assert_eq!(
            env(&container, "BACKUP_FILE").as_deref(),
            Some(file),
            "{task}/{name}"
        );
        let talks_to_postgres = script == backup::DUMP_SCRIPT || script == backup::RESTORE_SCRIPT;
        if talks_to_postgres {
            // The dump and restore tools come with Datero's own image, so they match its server.
            assert_eq!(container["Image"], image, "{task}/{name}");
            assert_eq!(env(&container, "PGHOST").as_deref(), Some("127.0.0.1"));
            assert_eq!(env(&container, "PGPORT"), Some(postgres_port.clone()));
            assert_eq!(container["Secrets"][0]["Name"], "PGPASSWORD");
            assert_eq!(
                container["Secrets"][0]["ValueFrom"],
                datero["PasswordSecretArn"]
            );
        } else {
            assert!(
                container["Image"]
                    .as_str()
                    .unwrap()
                    .starts_with("public.ecr.aws/aws-cli/aws-cli:2.")
            );
            assert_eq!(
                env(&container, "BACKUP_PREFIX").as_deref(),
                Some(backup::BACKUP_PREFIX)
            );
            assert!(
                container.get("Secrets").is_none(),
                "{name} needs no password"
            );
        }
        assert_eq!(
            container["LogConfiguration"]["Options"]["awslogs-group"],
            datero["LogGroupName"]
        );
    }
    let backup_task = properties(&template, &stack, "BackupTaskDefinition");
    // The upload runs whatever the dump did, so that a failed dump is reported; it is the
    // essential one, so the task's exit code is the upload's.
    let dump = container(&backup_task, backup::DUMP_CONTAINER);
    let upload = container(&backup_task, backup::UPLOAD_CONTAINER);
    assert_eq!(dump["Essential"], "false");
    assert_eq!(upload["Essential"], "true");
    assert_eq!(
        upload["DependsOn"],
        json!([{"ContainerName": "dump", "Condition": "COMPLETE"}])
    );
    assert_eq!(
        env(&upload, "CLUSTER_NAME").as_deref(),
        Some("teststack-datero")
    );
    // The restore: the current state is dumped, then stored and the backup fetched, then loaded;
    // each only if the one before succeeded. The restore is the essential one.
    let restore_task = properties(&template, &stack, "RestoreTaskDefinition");
    let keep_dump = container(&restore_task, backup::KEEP_DUMP_CONTAINER);
    let fetch = container(&restore_task, backup::FETCH_CONTAINER);
    let restore = container(&restore_task, backup::RESTORE_CONTAINER);
    assert!(keep_dump.get("DependsOn").is_none());
    assert_eq!(
        fetch["DependsOn"],
        json!([{"ContainerName": backup::KEEP_DUMP_CONTAINER, "Condition": "SUCCESS"}])
    );
    assert_eq!(
        restore["DependsOn"],
        json!([{"ContainerName": backup::FETCH_CONTAINER, "Condition": "SUCCESS"}])
    );
    assert_eq!(
        [&keep_dump, &fetch, &restore].map(|c| c["Essential"].clone()),
        ["false", "false", "true"]
    );
    assert_eq!(
        env(&fetch, "BEFORE_RESTORE_FILE").as_deref(),
        Some(backup::BEFORE_RESTORE_FILE)
    );
    let names: Vec<&Json> = restore_task["ContainerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["Name"])
        .collect();
    assert_eq!(names, ["keep-dump", "fetch", "restore"]);
    let reserved: Vec<&Json> = [&keep_dump, &fetch, &restore]
        .map(|c| &c["MemoryReservation"])
        .to_vec();
    // 256 MiB in all, as the template's comment and the README say.
    assert_eq!(reserved, ["64", "128", "64"]);
    // Task roles in host network mode need the agent's opt-in.
    let user_data = template.resource("LaunchTemplate")["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"].clone();
    let user_data = template.resolve(&user_data, &stack).unwrap().unwrap();
    assert!(
        user_data
            .as_str()
            .unwrap()
            .contains("\nECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true\n")
    );
}

#[test]
fn the_restore_role_reads_backups_and_puts_only_the_state_a_restore_replaces() {
    let template = Template::load().unwrap();
    let stack = stack_with(&template, &[]);
    let role = properties(&template, &stack, "RestoreTaskRole");
    let policies = role["Policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1);
    let arn = stack.attributes["BackupBucket.Arn"].clone();
    // Nothing else: no list, no delete, no overwriting a backup.
    assert_eq!(
        policies[0]["PolicyDocument"]["Statement"],
        json!([
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("{arn}/{}*", backup::BACKUP_PREFIX)},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": format!("{arn}/{}*", backup::BEFORE_RESTORE_PREFIX)},
        ])
    );
}

#[test]
fn the_bucket_is_private_encrypted_tls_only_kept_and_forgets_after_the_retention() {
    let template = Template::load().unwrap();
    let stack = stack_with(&template, &[("BackupRetentionDays", "30")]);
    for resource in ["BackupBucket", "BackupBucketPolicy"] {
        assert_eq!(
            template.resource(resource)["DeletionPolicy"].as_str(),
            Some("Retain")
        );
        assert_eq!(
            template.resource(resource)["UpdateReplacePolicy"].as_str(),
            Some("Retain")
        );
    }
    let bucket = properties(&template, &stack, "BackupBucket");
    assert_eq!(
        bucket["PublicAccessBlockConfiguration"],
        json!({"BlockPublicAcls": "true", "BlockPublicPolicy": "true", "IgnorePublicAcls": "true", "RestrictPublicBuckets": "true"})
    );
    assert_eq!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
            ["SSEAlgorithm"],
        "AES256"
    );
    let rule = &bucket["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(rule["Status"], "Enabled");
    assert_eq!(rule["Prefix"], backup::BACKUP_PREFIX);
    assert_eq!(rule["ExpirationInDays"], "30");
    let policy = properties(&template, &stack, "BackupBucketPolicy");
    let statement = &policy["PolicyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Action"], "s3:*");
    assert_eq!(
        statement["Condition"],
        json!({"Bool": {"aws:SecureTransport": "false"}})
    );
    let arn = stack.attributes["BackupBucket.Arn"].clone();
    assert_eq!(statement["Resource"], json!([arn, format!("{arn}/*")]));
}

#[test]
fn the_schedule_runs_the_backup_task_through_the_capacity_provider_or_does_not_exist() {
    let template = Template::load().unwrap();
    let off = stack_with(&template, &[("BackupSchedule", "")]);
    assert!(!template.exists("DateroBackupSchedule", &off).unwrap());
    assert!(!template.exists("BackupSchedulerRole", &off).unwrap());
    // Restores need no schedule.
    assert!(template.exists("RestoreTaskDefinition", &off).unwrap());

    let daily = stack_with(&template, &[]);
    let schedule = properties(&template, &daily, "DateroBackupSchedule");
    assert_eq!(schedule["ScheduleExpression"], "cron(0 3 * * ? *)");
    let target = &schedule["Target"];
    assert_eq!(target["Arn"], daily.attributes["Cluster.ClusterArn"]);
    let ecs = &target["EcsParameters"];
    assert!(
        ecs.get("LaunchType").is_none(),
        "a launch type would bypass the capacity provider"
    );
    assert_eq!(
        ecs["CapacityProviderStrategy"],
        json!([{"CapacityProvider": daily.attributes["Cluster.CapacityProviderName"], "Weight": "1"}])
    );
    assert_eq!(ecs["TaskDefinitionArn"], daily.refs["BackupTaskDefinition"]);
    assert_eq!(ecs["TaskCount"], "1");
    assert_eq!(
        target["RoleArn"],
        daily.attributes["BackupSchedulerRole.Arn"]
    );
}

#[test]
fn a_bad_schedule_or_retention_is_refused_before_anything_is_made() {
    let template = Template::load().unwrap();
    for bad in [
        "daily",
        "cron(0 3 * *)",
        "rate(1 days)",
        "rate(5 minutes)",
        "rate(2 day)",
        " cron(0 3 * * ? *)",
    ] {
        let stack = stack_with(&template, &[("BackupSchedule", bad)]);
        let refused = template.check_parameters(&stack).unwrap_err();
        assert!(
            refused.contains("parameter BackupSchedule must be"),
            "{bad}: {refused}"
        );
    }
    for good in [
        "",
        "cron(30 1 ? * SUN *)",
        "rate(1 day)",
        "rate(12 hours)",
        "rate(7 days)",
    ] {
        template
            .check_parameters(&stack_with(&template, &[("BackupSchedule", good)]))
            .unwrap_or_else(|error| panic!("{good}: {error}"));
    }
    for bad in ["0", "-1", "1.5", "fourteen", "", "10000"] {
        let stack = stack_with(&template, &[("BackupRetentionDays", bad)]);
        let refused = template.check_parameters(&stack).unwrap_err();
        assert!(
            refused.contains("parameter BackupRetentionDays must be"),
            "{bad}: {refused}"
        );
    }
    template
        .check_parameters(&stack_with(&template, &[("BackupRetentionDays", "365")]))
        .unwrap();
}
