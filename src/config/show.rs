//! The effective configuration as TOML, with every secret shown as `***`,
//! for `keepsake check` and the startup log.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::*;

const HIDDEN: &str = "***";

#[derive(Serialize)]
struct View<'a> {
    log: LogView<'a>,
    agent: AgentView<'a>,
    storage: BTreeMap<&'a str, StorageView<'a>>,
    jobs: BTreeMap<&'a str, JobView<'a>>,
}

#[derive(Serialize)]
struct LogView<'a> {
    level: &'a str,
    format: LogFormat,
}

#[derive(Serialize)]
struct AgentView<'a> {
    max_concurrent: usize,
    shutdown_timeout: String,
    timezone: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum StorageView<'a> {
    S3 {
        bucket: &'a str,
        prefix: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoint: Option<&'a str>,
        region: &'a str,
        path_style: bool,
        upload_concurrency: usize,
        credentials: &'a str,
    },
    Local {
        path: String,
        prefix: &'a str,
    },
}

#[derive(Serialize)]
struct JobView<'a> {
    database: &'a str,
    password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule: Option<&'a str>,
    storage: &'a [String],
    format: DumpFormat,
    compression: CompressionKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    compression_level: Option<i32>,
    compression_threads: u32,
    pg_dump_args: &'a [String],
    naming: Naming,
    timezone: &'a str,
    run_on_start: bool,
    verify_after_backup: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_restore_into: Option<String>,
    retention: &'a Retention,
}

/// Renders `config` as TOML with secrets replaced by `***`.
pub fn render(config: &Config) -> String {
    let view = View {
        log: LogView {
            level: &config.log.level,
            format: config.log.format,
        },
        agent: AgentView {
            max_concurrent: config.agent.max_concurrent,
            shutdown_timeout: humantime::format_duration(config.agent.shutdown_timeout).to_string(),
            timezone: &config.agent.timezone.name,
        },
        storage: config
            .storage
            .iter()
            .map(|(name, s)| (name.as_str(), storage_view(s)))
            .collect(),
        jobs: config
            .jobs
            .iter()
            .map(|j| (j.name.as_str(), job_view(j)))
            .collect(),
    };
    toml::to_string(&view).unwrap_or_else(|e| format!("# cannot render the configuration: {e}\n"))
}

fn storage_view(s: &StorageConfig) -> StorageView<'_> {
    match s {
        StorageConfig::S3(s3) => StorageView::S3 {
            bucket: &s3.bucket,
            prefix: &s3.prefix,
            endpoint: s3.endpoint.as_deref(),
            region: &s3.region,
            path_style: s3.path_style,
            upload_concurrency: s3.upload_concurrency,
            credentials: if s3.credentials.is_some() {
                "static keys ***"
            } else {
                "default AWS credential chain"
            },
        },
        StorageConfig::Local(l) => StorageView::Local {
            path: l.path.display().to_string(),
            prefix: &l.prefix,
        },
    }
}

fn job_view(j: &JobConfig) -> JobView<'_> {
    JobView {
        database: &j.database_display,
        password: if j.connection.password.is_some() {
            HIDDEN
        } else {
            "(none)"
        },
        schedule: j.schedule.as_ref().map(|s| s.expr.as_str()),
        storage: &j.storage,
        format: j.format,
        compression: j.compression.kind,
        compression_level: j.compression.level,
        compression_threads: j.compression.threads,
        pg_dump_args: &j.pg_dump_args,
        naming: j.naming,
        timezone: &j.timezone.name,
        run_on_start: j.run_on_start,
        verify_after_backup: j.verify_after_backup,
        verify_restore_into: j.verify_restore_into.as_ref().map(|c| match c.password {
            Some(_) => format!("{} (password ***)", c.conninfo),
            None => c.conninfo.clone(),
        }),
        retention: &j.retention,
    }
}
