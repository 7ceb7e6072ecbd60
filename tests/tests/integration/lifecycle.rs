//! The README's first command as a test: the stack's whole life on the emulator.

use datero_testbed::lifecycle::{self, Options, progress::Progress};
use datero_testbed::template::Template;

#[tokio::test]
async fn the_whole_stack_lifecycle_passes_on_the_emulator() {
    let template = Template::load().unwrap();
    let options = Options::parse(["StackName=lifecycle-test".to_owned()]).unwrap();
    lifecycle::check(&template, &options).unwrap();
    let progress = Progress::default();
    let outcome = lifecycle::run(&template, &options, &progress).await;
    progress.summary();
    outcome.unwrap();
}

#[tokio::test]
async fn the_whole_stack_lifecycle_passes_in_private_mode() {
    let template = Template::load().unwrap();
    let options = Options::parse(
        [
            "StackName=lifecycle-private",
            "PublicAccess=false",
            "InstancePublicIp=false",
            // Backups off: no schedule; restores still work.
            "BackupSchedule=",
        ]
        .map(str::to_owned),
    )
    .unwrap();
    lifecycle::check(&template, &options).unwrap();
    let progress = Progress::default();
    let outcome = lifecycle::run(&template, &options, &progress).await;
    progress.summary();
    outcome.unwrap();
}

#[test]
fn bad_input_is_refused_before_anything_starts() {
    let template = Template::load().unwrap();
    let refuse = |arguments: &[&str]| {
        let options = Options::parse(arguments.iter().map(|a| (*a).to_owned()));
        options
            .and_then(|options| lifecycle::check(&template, &options))
            .unwrap_err()
    };
    assert_eq!(
        refuse(&["DateroImage="]),
        "parameter DateroImage must be a container image reference without spaces, got \"\""
    );
    assert!(
        refuse(&["DataPersistence=tape"]).starts_with("parameter DataPersistence must be one of")
    );
    assert!(refuse(&["Colour=blue"]).starts_with("unknown parameter Colour"));
    // AllowedCidr: octets 0-255 and a prefix of /8 to /32 (no world-open UI).
    for bad in [
        "300.1.2.3/24",
        "10.0.0.0/33",
        "0.0.0.0/0",
        "10.0.0/24",
        "10.0.0.1",
    ] {
        assert!(
            refuse(&[&format!("AllowedCidr={bad}")]).starts_with("parameter AllowedCidr must be"),
            "{bad}"
        );
    }
    // The template's Rules, as CloudFormation checks them before it makes anything.
    // Public mode without AllowedCidr is a sign-in open to any address, not an open UI.
    let open = Options::parse(["PublicAccess=true", "AllowedCidr="].map(str::to_owned)).unwrap();
    assert_eq!(lifecycle::check(&template, &open), Ok(()));
    assert!(
        refuse(&["InstancePublicIp=false"])
            .contains("PublicAccess=true needs InstancePublicIp=true")
    );
    // Paying only for use: a half schedule, a bad cron, Spot with the data on the instance.
    assert!(
        refuse(&["ScheduleStart=cron(0 8 ? * MON-FRI *)"])
            .contains("ScheduleStart and ScheduleStop go together")
    );
    assert!(
        refuse(&[
            "ScheduleStart=every morning",
            "ScheduleStop=cron(0 20 ? * MON-FRI *)"
        ])
        .starts_with("parameter ScheduleStart must be")
    );
    assert!(
        refuse(&["UseSpot=true", "DataPersistence=instance"])
            .contains("UseSpot=true cannot be combined with DataPersistence=instance")
    );
    assert!(refuse(&["BackupSchedule=daily"]).starts_with("parameter BackupSchedule must be"));
    assert!(
        refuse(&["BackupRetentionDays=0"]).starts_with("parameter BackupRetentionDays must be")
    );
    for good in ["203.0.113.0/24", "10.0.0.0/8", "192.168.1.7/32"] {
        let options = Options::parse([format!("AllowedCidr={good}")]).unwrap();
        lifecycle::check(&template, &options).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    assert!(refuse(&["no-equals-sign"]).starts_with("expected Name=value"));
}
