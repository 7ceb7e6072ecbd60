//! Prints the README's cost table from `tools/prices/<region>.json` (default us-east-1).

use xtask::costs::{Prices, markdown};

fn main() {
    let region = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "us-east-1".to_owned());
    let result = Prices::load(&region).and_then(|prices| {
        let when = prices.as_of().to_owned();
        let public =
            format!("public mode (Elastic IP, CloudFront), per month, {region}, prices of {when}");
        let private =
            format!("private mode (PublicAccess=false), per month, {region}, prices of {when}");
        Ok(format!(
            "{}\n{}",
            markdown(&prices.table(true)?, &public),
            markdown(&prices.table(false)?, &private)
        ))
    });
    match result {
        Ok(table) => print!("{table}"),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}
