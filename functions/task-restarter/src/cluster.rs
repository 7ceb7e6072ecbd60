//! The cluster's tags, read at most once per event. The office-hours mark (does a restart wait
//! for the hours?) and the data folder (where does a restart's PostgreSQL find its data?) both
//! live there, and a restart needs both: one DescribeClusters serves the two.

use datero_shared::ResourceError;
use datero_shared::ecs_tasks::{self, ClusterTags};
use datero_shared::schedule::HoursMark;
use tokio::sync::OnceCell;

use crate::Context;

/// The cluster as one event sees it.
pub struct ClusterRead<'a> {
    context: &'a Context,
    tags: OnceCell<Option<ClusterTags>>,
}

impl<'a> ClusterRead<'a> {
    /// Nothing is read until a flow asks.
    pub fn new(context: &'a Context) -> Self {
        Self {
            context,
            tags: OnceCell::new(),
        }
    }

    /// The cluster's ARN and tags; `None` when the cluster is gone.
    pub async fn tags(&self) -> Result<Option<&ClusterTags>, ResourceError> {
        let tags = self
            .tags
            .get_or_try_init(|| {
                ecs_tasks::cluster_tags(&self.context.ecs, &self.context.config.scope.cluster_name)
            })
            .await?;
        Ok(tags.as_ref())
    }

    /// The office-hours mark; none when there is no schedule yet (or no cluster).
    pub async fn hours_mark(&self) -> Result<Option<HoursMark>, ResourceError> {
        Ok(self.tags().await?.and_then(|tags| {
            tags.get(datero_shared::marks::OFFICE_HOURS_TAG)
                .and_then(HoursMark::parse)
        }))
    }

    /// Where Datero's data is since a move to a new major (`None`: the task definition's PGDATA).
    pub async fn data_folder(&self) -> Result<Option<String>, ResourceError> {
        Ok(self.tags().await?.and_then(ClusterTags::data_folder))
    }
}
