//! The README's first command: the stack's whole life on a local AWS emulator.
//! Arguments are parameter overrides, `Name=value` (for example `DateroImage=chumaky/datero:1.2.0`).

use std::process::ExitCode;

use datero_testbed::lifecycle::{self, Options, progress::Progress};
use datero_testbed::template::Template;

#[tokio::main]
async fn main() -> ExitCode {
    let prepared = Template::load().and_then(|template| {
        let options = Options::parse(std::env::args().skip(1))?;
        lifecycle::check(&template, &options)?;
        Ok((template, options))
    });
    let (template, options) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("refused before anything started: {error}");
            return ExitCode::from(2);
        }
    };
    println!(
        "datero-ecs: the stack \"{}\" on a local AWS emulator, with the real function binaries",
        options.stack_name
    );
    let progress = Progress::default();
    let outcome = lifecycle::run(&template, &options, &progress).await;
    progress.summary();
    match outcome {
        Ok(()) => {
            println!("lifecycle OK");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("lifecycle FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
