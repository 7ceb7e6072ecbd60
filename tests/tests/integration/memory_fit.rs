//! Datero's memory beside a backup or a restore fits every instance type the stack accepts,
//! with EC2's own figures for the types (`datero_testbed::instance_types`) and the reservations
//! read from template.yaml.

use datero_testbed::instance_types;
use datero_testbed::template::{Stack, Template};

/// The share of a type's nominal memory that ECS is assumed to register. The agent registers
/// the memory the kernel reports, less `ECS_RESERVED_MEMORY` ("Reserving Amazon ECS Linux
/// container instance memory": an m4.large registers 7,985 of its 8,192 MiB, 97.5%). A 2 GiB
/// type loses a larger share to the kernel, so the README and this test assume 90%.
const REGISTERED_SHARE: f64 = 0.90;

fn stack_with(template: &Template, parameters: &[(&str, &str)]) -> Stack {
    Stack::placeholder(template, "teststack").with(parameters)
}

/// The types `InstanceType` allows, and those the Spot rule allows.
fn accepted_types(template: &Template) -> (Vec<String>, Vec<String>) {
    let on_demand: Vec<String> = template.yaml()["Parameters"]["InstanceType"]["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap().to_owned())
        .collect();
    let assertion = &template.yaml()["Rules"]["SpotTypesFitDatero"]["Assertions"][0]["Assert"];
    let spot = assertion["Fn::EachMemberIn"][1]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap().to_owned())
        .collect();
    (on_demand, spot)
}

/// What a task definition of the template reserves: the sum of its containers' reservations
/// (or hard limits where no reservation is set), as ECS counts them.
fn reserved_by(template: &Template, stack: &Stack, resource: &str) -> u64 {
    let properties = template
        .resolve(&template.resource(resource)["Properties"], stack)
        .unwrap()
        .unwrap();
    properties["ContainerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|container| {
            let figure = container
                .get("MemoryReservation")
                .or_else(|| container.get("Memory"))
                .unwrap_or_else(|| panic!("{resource}: a container reserves nothing"));
            figure.as_str().unwrap().parse::<u64>().unwrap()
        })
        .sum()
}

fn reserved_by_the_instance(template: &Template, stack: &Stack) -> u64 {
    let launch = template
        .resolve(&template.resource("LaunchTemplate")["Properties"], stack)
        .unwrap()
        .unwrap();
    let user_data = launch["LaunchTemplateData"]["UserData"].as_str().unwrap();
    user_data
        .lines()
        .find_map(|line| line.trim().strip_prefix("ECS_RESERVED_MEMORY="))
        .map_or(0, |figure| figure.parse().unwrap())
}

#[test]
fn datero_beside_a_backup_or_a_restore_fits_every_type_the_stack_accepts() {
    let template = Template::load().unwrap();
    let stack = stack_with(&template, &[]);
    let datero: u64 = template
        .resolve(
            &template.resource("TaskDefinition")["Properties"]["Memory"],
            &stack,
        )
        .unwrap()
        .unwrap()
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let backup = reserved_by(&template, &stack, "BackupTaskDefinition");
    let restore = reserved_by(&template, &stack, "RestoreTaskDefinition");
    let needed = datero + backup.max(restore);
    let reserved = reserved_by_the_instance(&template, &stack);

    let (on_demand, spot) = accepted_types(&template);
    let mut all = on_demand.clone();
    all.extend(spot.iter().cloned());
    all.sort();
    all.dedup();
    let described = instance_types::describe(&all).unwrap();
    for (name, kind) in &described {
        assert!(
            kind.architectures.iter().any(|arch| arch == "x86_64"),
            "{name} cannot run Datero's x86_64 image: {:?}",
            kind.architectures
        );
        // Precision is no concern: nominal figures are a few thousand MiB.
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        #[allow(clippy::cast_sign_loss)]
        let registered = (kind.memory_mib as f64 * REGISTERED_SHARE) as u64 - reserved;
        assert!(
            needed <= registered,
            "{name}: Datero {datero} MiB + backup {backup} or restore {restore} MiB = {needed} MiB, \
             but ECS registers about {registered} MiB of its {} MiB",
            kind.memory_mib
        );
        assert!(
            !name.starts_with("t2."),
            "{name} launches with standard CPU credits"
        );
    }
    // The smallest type is the one that matters; say its margin.
    let smallest = described
        .values()
        .map(|kind| kind.memory_mib)
        .min()
        .unwrap();
    assert_eq!(smallest, 2048, "the README's figures are for a 2 GiB type");
    assert_eq!(
        (datero, backup, restore, reserved),
        (1536, 192, 256, 0),
        "update the README's memory figures"
    );
    // Spot may choose only what InstanceType allows: one list of checked types.
    assert_eq!(spot, on_demand);
}

#[test]
fn a_spot_type_outside_the_checked_list_is_refused_before_anything_is_made() {
    let template = Template::load().unwrap();
    let spot = |types: &str| {
        stack_with(
            &template,
            &[
                ("UseSpot", "true"),
                ("DataPersistence", "efs"),
                ("SpotInstanceTypes", types),
            ],
        )
    };
    template
        .check_rules(&spot("t3.small,t3a.small,t3a.medium"))
        .unwrap();
    for refused in [
        "t2.small,t3.small,t3a.small",
        "t3.small,t3.micro,t3a.small",
        "t3.small,t3a.small,m6g.large",
    ] {
        let why = template.check_rules(&spot(refused)).unwrap_err();
        assert!(
            why.contains("SpotInstanceTypes may list only"),
            "{refused}: {why}"
        );
    }
    // Without Spot the list is not used, and not checked.
    let on_demand = stack_with(
        &template,
        &[("SpotInstanceTypes", "t2.micro,t2.micro,t2.micro")],
    );
    template.check_rules(&on_demand).unwrap();
}
