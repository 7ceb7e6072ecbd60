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
        "TaskDefinition: property Image is invalid: expected a container image reference such as chumaky/datero:1.2.0, got \"\""
    );
    assert!(
        refuse(&["DataPersistence=tape"]).starts_with("parameter DataPersistence must be one of")
    );
    assert!(refuse(&["Colour=blue"]).starts_with("unknown parameter Colour"));
    assert!(refuse(&["no-equals-sign"]).starts_with("expected Name=value"));
}
