//! What a month of Datero costs, from the price list kept in `tools/prices/`: this stack on EC2
//! (on-demand or Spot, always on or office hours) beside the same Datero on Fargate (or Fargate
//! Spot) for the same hours. `cargo run -p xtask --bin costs` prints the table the
//! README shows; re-run it when the prices change.

use serde_json::Value;

/// One way of running Datero, and what it costs per month.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: &'static str,
    pub ec2: f64,
    /// Fargate with the instance's memory and 1 vCPU.
    pub fargate: f64,
    /// Fargate with the instance's memory and 0.5 vCPU: the closest sustained capacity to a
    /// t3.small, whose baseline is 20% of each of its two vCPUs.
    pub fargate_half: f64,
}

impl Row {
    /// This stack's cost as a fraction of Fargate's.
    pub fn fraction(&self) -> f64 {
        self.ec2 / self.fargate
    }
}

/// The price list, read from its JSON file.
pub struct Prices(Value);

impl Prices {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text)
            .map(Self)
            .map_err(|error| format!("price list: {error}"))
    }

    /// The workspace's list for `region`.
    pub fn load(region: &str) -> Result<Self, String> {
        let path = datero_testbed::workspace_root().join(format!("tools/prices/{region}.json"));
        let text = std::fs::read_to_string(&path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        Self::parse(&text)
    }

    fn get(&self, section: &str, key: &str) -> Result<f64, String> {
        self.0[section][key]
            .as_f64()
            .ok_or_else(|| format!("price list: {section}.{key} missing or not a number"))
    }

    pub fn as_of(&self) -> &str {
        self.0["as_of"].as_str().unwrap_or("?")
    }

    /// What both stacks pay whatever the hours: EFS, the secret, the alarms, the backups.
    fn fixed(&self) -> Result<f64, String> {
        Ok(
            self.get("shared", "efs_gb")? * self.get("shared", "efs_standard_per_gb_month")?
                + self.get("shared", "secret_per_month")?
                + self.get("shared", "alarm_metrics")?
                    * self.get("shared", "alarm_metric_per_month")?
                + self.backups()?,
        )
    }

    /// The backup bucket (the kept dumps and a PUT a day) and the backup's own metrics.
    pub fn backups(&self) -> Result<f64, String> {
        let hours = self.get("hours", "month")?;
        Ok(self.get("backups", "dump_gb")?
            * self.get("backups", "kept")?
            * self.get("backups", "s3_standard_per_gb_month")?
            + self.get("backups", "puts_per_month")? / 1000.0
                * self.get("backups", "put_per_1000")?
            + self.get("backups", "metrics")? * self.get("backups", "metric_hours_per_month")?
                / hours
                * self.get("backups", "metric_per_month")?)
    }

    /// This stack for `hours` a month. The instance and its root volume exist only while
    /// Datero runs (managed scaling removes the instance). In public mode the Elastic IP stays
    /// allocated all month, and an idle public IPv4 is charged too; in private mode (public
    /// subnets) the instance's own address goes with it.
    fn ec2(&self, hours: f64, spot: bool, public_mode: bool) -> Result<f64, String> {
        let month = self.get("hours", "month")?;
        let key = if spot {
            "spot_per_hour"
        } else {
            "on_demand_per_hour"
        };
        let hourly = self.get("ec2", key)?;
        let volume = self.get("ec2", "root_volume_gb")? * self.get("ec2", "gp3_per_gb_month")?;
        let address_hours = if public_mode { month } else { hours };
        Ok(hourly * hours
            + volume * hours / month
            + self.get("shared", "public_ipv4_per_hour")? * address_hours
            + self.fixed()?
            + self.https(public_mode)?)
    }

    /// Public mode's HTTPS, paid whatever the hours and by either stack: the secret of the
    /// sign-in and the origin token, and CloudFront (within its always-free allowance at one team's
    /// traffic: the price list's note).
    fn https(&self, public_mode: bool) -> Result<f64, String> {
        if !public_mode {
            return Ok(0.0);
        }
        Ok(
            self.get("public_mode", "secrets")? * self.get("shared", "secret_per_month")?
                + self.get("public_mode", "cloudfront_per_month")?,
        )
    }

    /// The same Datero as one Fargate task for `hours` a month, with its own public IPv4 while
    /// it runs.
    fn fargate(&self, vcpu: f64, hours: f64, spot: bool, public_mode: bool) -> Result<f64, String> {
        let (vcpu_key, gb_key) = if spot {
            ("spot_vcpu_per_hour", "spot_gb_per_hour")
        } else {
            ("vcpu_per_hour", "gb_per_hour")
        };
        let hourly = vcpu * self.get("fargate", vcpu_key)?
            + self.get("fargate", "memory_gb")? * self.get("fargate", gb_key)?;
        Ok(
            (hourly + self.get("shared", "public_ipv4_per_hour")?) * hours
                + self.fixed()?
                + self.https(public_mode)?,
        )
    }

    /// The four rows: on-demand and Spot, always on and office hours, in public mode
    /// (`public_mode`, the default: an Elastic IP) or private mode.
    pub fn table(&self, public_mode: bool) -> Result<Vec<Row>, String> {
        let month = self.get("hours", "month")?;
        let office = self.get("hours", "office")?;
        let row = |name, hours, spot| -> Result<Row, String> {
            Ok(Row {
                name,
                ec2: self.ec2(hours, spot, public_mode)?,
                fargate: self.fargate(self.get("fargate", "vcpu")?, hours, spot, public_mode)?,
                fargate_half: self.fargate(
                    self.get("fargate", "vcpu_sustained")?,
                    hours,
                    spot,
                    public_mode,
                )?,
            })
        };
        Ok(vec![
            row("on-demand, always on", month, false)?,
            row("Spot, always on", month, true)?,
            row("on-demand, office hours (12 h x 5 days)", office, false)?,
            row("Spot, office hours (12 h x 5 days)", office, true)?,
        ])
    }
}

/// The table as Markdown.
pub fn markdown(rows: &[Row], heading: &str) -> String {
    let mut out = format!(
        "| {heading} | this stack (EC2) | Fargate 1 vCPU, 2 GB (Spot rows: Fargate Spot), same hours | fraction | Fargate 0.5 vCPU, 2 GB | fraction |\n|---|---|---|---|---|---|\n"
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | ${:.2} | ${:.2} | {:.0}% | ${:.2} | {:.0}% |\n",
            row.name,
            row.ec2,
            row.fargate,
            row.fraction() * 100.0,
            row.fargate_half,
            row.ec2 / row.fargate_half * 100.0
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_on_demand_always_on_row_matches_a_hand_computed_one() {
        let prices = Prices::load("us-east-1").unwrap();
        let rows = prices.table(true).unwrap();
        // By hand: backups 0.05 GB x 14 x 0.023 = 0.0161, 30 PUTs = 0.00015, 3 metrics x
        // 30/730 h x 0.30 = 0.036986...; together 0.053236...
        let backups = 0.0161 + 0.00015 + 3.0 * 30.0 / 730.0 * 0.30;
        assert!((prices.backups().unwrap() - backups).abs() < 1e-9);
        // t3.small 0.0208 x 730 = 15.184; 30 GB gp3 x 0.08 = 2.40; public IPv4 0.005 x 730 =
        // 3.65; EFS 2 GB x 0.30 = 0.60; secret 0.40; 9 alarm metrics x 0.10 = 0.90; backups;
        // HTTPS: one more secret, 0.40.
        assert!(
            (rows[0].ec2 - (23.534 + backups)).abs() < 1e-9,
            "{}",
            rows[0].ec2
        );
        // Fargate 1 vCPU x 0.04048 x 730 = 29.5504; 2 GB x 0.004445 x 730 = 6.4897; its public
        // IPv4 3.65; the same 1.90 of EFS, secret and alarms, the backups, and 0.40 of HTTPS.
        assert!(
            (rows[0].fargate - (41.9901 + backups)).abs() < 1e-9,
            "{}",
            rows[0].fargate
        );
        // Half a vCPU: 0.5 x 0.04048 x 730 = 14.7752, the same memory, address and the rest.
        assert!(
            (rows[0].fargate_half - (27.2149 + backups)).abs() < 1e-9,
            "{}",
            rows[0].fargate_half
        );
    }

    #[test]
    fn office_hours_cost_less_than_always_on_and_spot_less_than_on_demand() {
        for public_mode in [true, false] {
            let rows = Prices::load("us-east-1")
                .unwrap()
                .table(public_mode)
                .unwrap();
            assert!(rows[2].ec2 < rows[0].ec2 && rows[3].ec2 < rows[1].ec2);
            assert!(rows[1].ec2 < rows[0].ec2 && rows[3].ec2 < rows[2].ec2);
        }
    }

    #[test]
    fn private_mode_saves_the_idle_address_off_hours() {
        let prices = Prices::load("us-east-1").unwrap();
        let (public, private) = (prices.table(true).unwrap(), prices.table(false).unwrap());
        // Always on, the address is paid all month either way; public mode adds its HTTPS
        // (a secret, 0.40).
        assert!((public[0].ec2 - private[0].ec2 - 0.40).abs() < 1e-9);
        // Office hours: 0.005 x (730 - 260.71) = 2.34645 less, and no HTTPS.
        assert!((public[2].ec2 - private[2].ec2 - 2.34645 - 0.40).abs() < 1e-9);
    }

    #[test]
    fn a_missing_price_is_named() {
        let prices = Prices::parse(r#"{"hours": {"month": 730, "office": 260}}"#).unwrap();
        assert!(
            prices
                .table(true)
                .unwrap_err()
                .contains("ec2.on_demand_per_hour")
        );
    }
}
