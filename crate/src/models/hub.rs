//! Models named by Hugging Face hub id or by local directory.
//!
//! A model argument (`--detector`, `--segmenter`, …) is either
//!
//! * a **local directory** holding the model's files (`config.json`,
//!   `model.safetensors`, …): any existing directory is used as it is; or
//! * a **hub id**, `owner/name` or `owner/name@revision` (a branch, tag or
//!   commit; `main` when left out), e.g. `IDEA-Research/grounding-dino-tiny`
//!   or `facebook/sam2.1-hiera-tiny`.
//!
//! Anything else is refused: a path that does not exist, unless it is shaped
//! like a hub id.
//!
//! A hub id's files are downloaded once, into the standard Hugging Face cache
//! that `transformers` and `huggingface_hub` use, so what they downloaded
//! before is reused and later runs need no network. A repository whose files
//! are all in the cache is used without asking the hub whether the revision
//! has moved on since: pin one with `owner/name@<commit>`, or delete the
//! repository's folder in the cache to fetch it afresh. Files missing from a
//! partly cached repository are fetched from the commit already cached, so
//! its snapshot directory stays consistent.
//!
//! The cache layout is `huggingface_hub`'s: a repository is
//! `models--owner--name/`, with the file contents in `blobs/`, one folder per
//! commit in `snapshots/<commit>/` (links to the blobs), the commit each
//! revision stands for in `refs/<revision>`, and the files a commit lacks in
//! `.no_exist/<commit>/`. The model is then read from its snapshot directory.
//!
//! Environment variables, as in `huggingface_hub`:
//!
//! * `HF_HUB_CACHE`: the cache; else `$HF_HOME/hub`, where `HF_HOME` defaults
//!   to `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
//! * `HF_ENDPOINT`: the hub's address, for a mirror (default
//!   `https://huggingface.co`).
//! * `HF_HUB_OFFLINE=1`: use the cache only; a required file that is not
//!   cached is an error.
//! * `HF_TOKEN`: an access token, for private or gated repositories; else the
//!   one `hf auth login` saved in `$HF_HOME/token`, if any.
//!
//! Optional files (a `vocab.txt`, say) that a repository lacks are skipped,
//! and their absence is recorded in the cache so that later runs do not ask
//! again; a required file the repository lacks is an error. Where the hub
//! cannot be reached, download the files from the repository's page yourself
//! into one directory and pass that directory instead of the hub id.
//!
//! Nothing is printed: [`ModelSource::Hub`] lists the files a call
//! downloaded.

use std::fs;
use std::path::{Path, PathBuf};

use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
use hf_hub::{Cache, CacheRepo, Repo, RepoType};

/// The hub `HF_ENDPOINT` replaces.
const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// The revision of a hub id without `@revision`.
const DEFAULT_REVISION: &str = "main";

/// One file of a model directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// Its name in the directory, e.g. `config.json`.
    pub name: &'static str,
    /// Whether the model cannot load without it. A hub repository that lacks
    /// a required file is an error; a missing optional file is skipped.
    pub required: bool,
}

impl ModelFile {
    /// A file the model cannot load without.
    pub const fn required(name: &'static str) -> Self {
        Self {
            name,
            required: true,
        }
    }

    /// A file the model uses where the repository has it.
    pub const fn optional(name: &'static str) -> Self {
        Self {
            name,
            required: false,
        }
    }
}

/// Where a model's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The directory holding the files: a local directory as given, or the
    /// repository's snapshot directory in the Hugging Face cache. Optional
    /// files the repository lacks are not in it.
    pub dir: PathBuf,
    /// Where the files came from.
    pub source: ModelSource,
}

/// Where a [`ResolvedModel`]'s files came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A local directory, used as given.
    Local,
    /// A Hugging Face hub repository, through the cache.
    Hub {
        /// The repository, `owner/name`.
        repo: String,
        /// The revision asked for: `main` unless the id said `@revision`.
        revision: String,
        /// The files this call downloaded (those not cached before), in the
        /// order asked for; empty when everything was cached.
        downloaded: Vec<String>,
    },
}

/// Why a model argument gives no model directory.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The argument is neither an existing directory nor a hub id.
    #[error(
        "model directory {} does not exist, and it is not a Hugging Face hub id either \
         (those look like `owner/name` or `owner/name@revision`, \
         e.g. `IDEA-Research/grounding-dino-tiny`)",
        path.display()
    )]
    NotFound {
        /// The argument, as a path.
        path: PathBuf,
    },
    /// The argument is an existing file rather than a directory.
    #[error("{} is a file, not a model directory: pass the directory that holds {files}", path.display())]
    NotADirectory {
        /// The argument, as a path.
        path: PathBuf,
        /// The files the directory should hold.
        files: String,
    },
    /// No cache location follows from the environment.
    #[error(
        "cannot locate the Hugging Face cache: none of HF_HUB_CACHE, HF_HOME, \
         XDG_CACHE_HOME or HOME is set"
    )]
    NoCache,
    /// Offline mode is on and a required file is not in the cache.
    #[error(
        "`{file}` of {repo} (revision `{revision}`) is not in the Hugging Face cache at {}, \
         and offline mode is on (HF_HUB_OFFLINE): unset HF_HUB_OFFLINE to download it, \
         or pass a local directory that holds the model's files",
        cache.display()
    )]
    NotCached {
        /// The repository, `owner/name`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The missing file.
        file: String,
        /// The cache searched.
        cache: PathBuf,
    },
    /// The repository lacks a required file.
    #[error("{repo} (revision `{revision}`) on {endpoint} has no `{file}`, which the model needs")]
    MissingFile {
        /// The repository, `owner/name`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The missing file.
        file: String,
        /// The hub asked.
        endpoint: String,
    },
    /// The repository has no such revision.
    #[error("{repo} on {endpoint} has no revision `{revision}`")]
    UnknownRevision {
        /// The repository, `owner/name`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The hub asked.
        endpoint: String,
    },
    /// The hub knows no such repository, or does not let this user read it.
    #[error(
        "{repo} is neither a local directory nor a repository the Hugging Face hub at \
         {endpoint} lets us read (HTTP {status}): check the name; a private or gated \
         repository needs the access token (HF_TOKEN) of an account allowed to read it"
    )]
    RepoUnavailable {
        /// The repository, `owner/name`.
        repo: String,
        /// The hub asked.
        endpoint: String,
        /// The HTTP status it answered.
        status: u16,
    },
    /// The hub cannot be reached.
    #[error(
        "cannot reach the Hugging Face hub at {endpoint} ({reason}): check the network \
         (or HF_ENDPOINT), or download {files} of {repo} yourself into one directory \
         and pass that local directory instead of the hub id"
    )]
    Unreachable {
        /// The hub asked.
        endpoint: String,
        /// The repository, `owner/name`.
        repo: String,
        /// The files the model needs, for a manual download.
        files: String,
        /// What the connection attempt reported.
        reason: String,
    },
    /// The hub answered a download with an unexpected HTTP status.
    #[error("downloading `{file}` of {repo} from {endpoint} failed with HTTP status {status}")]
    Http {
        /// The repository, `owner/name`.
        repo: String,
        /// The file asked for.
        file: String,
        /// The hub asked.
        endpoint: String,
        /// The HTTP status it answered.
        status: u16,
    },
    /// A download failed otherwise: a malformed answer, or the cache not writable.
    #[error("downloading `{file}` of {repo} into the Hugging Face cache failed: {source}")]
    Download {
        /// The repository, `owner/name`.
        repo: String,
        /// The file asked for.
        file: String,
        /// What the hub client reported.
        source: ApiError,
    },
    /// A record of the cache (a revision's commit, a file a commit lacks)
    /// cannot be written.
    #[error("cannot write {} in the Hugging Face cache: {source}", path.display())]
    CacheWrite {
        /// The file that could not be written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The hub client cannot be set up.
    #[error("cannot set up the Hugging Face hub client for {endpoint}: {source}")]
    Client {
        /// The hub it was for.
        endpoint: String,
        /// What the hub client reported.
        source: ApiError,
    },
    /// Neither the cache nor the hub has any of the files asked for.
    #[error(
        "{repo} (revision `{revision}`) has none of the files asked for ({files}), \
         neither in the Hugging Face cache at {} nor on the hub",
        cache.display()
    )]
    NoFiles {
        /// The repository, `owner/name`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The files asked for.
        files: String,
        /// The cache searched.
        cache: PathBuf,
    },
}

/// What a `--model`-like argument names: an existing directory, used as it
/// is, or a hub id `owner/name[@revision]`, whose `files` are looked up in the
/// Hugging Face cache and downloaded there when missing (see the module doc
/// for the rules and the environment variables read).
pub fn resolve_model(arg: &str, files: &[ModelFile]) -> Result<ResolvedModel, HubError> {
    let path = Path::new(arg);
    if path.is_dir() {
        return Ok(ResolvedModel {
            dir: path.to_path_buf(),
            source: ModelSource::Local,
        });
    }
    if path.exists() {
        return Err(HubError::NotADirectory {
            path: path.to_path_buf(),
            files: file_list(files),
        });
    }
    let id = HubId::parse(arg).ok_or_else(|| HubError::NotFound {
        path: path.to_path_buf(),
    })?;
    let settings = HubSettings::from_vars(|name| std::env::var(name).ok())?;
    HubFetch::new(&id, files, &settings).run()
}

/// A hub repository at a revision, as `owner/name[@revision]` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HubId {
    repo: String,
    revision: String,
}

impl HubId {
    /// The id `arg` spells, if it is shaped like one.
    fn parse(arg: &str) -> Option<Self> {
        let (repo, revision) = arg.split_once('@').unwrap_or((arg, DEFAULT_REVISION));
        let (owner, name) = repo.split_once('/')?;
        let valid = is_hub_name(owner) && is_hub_name(name) && is_revision(revision);
        valid.then(|| Self {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }
}

/// An owner or repository name as the hub allows them: letters, digits, `-`,
/// `_` and `.`, at most 96, neither `--` nor `..` and no `-` or `.` at either end.
fn is_hub_name(part: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    (1..=96).contains(&part.len())
        && part.chars().all(allowed)
        && !part.contains("--")
        && !part.contains("..")
        && !part.starts_with(['-', '.'])
        && !part.ends_with(['-', '.'])
}

/// A branch, tag or commit name: `/`-separated parts of letters, digits, `-`,
/// `_` and `.`, none empty, `.` or `..` (it becomes a path in the cache).
fn is_revision(revision: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    revision
        .split('/')
        .all(|part| !matches!(part, "" | "." | "..") && part.chars().all(allowed))
}

/// A full commit hash, which names a snapshot without a ref.
fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40
        && revision
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The hub and cache settings the environment gives.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HubSettings {
    /// The hub's address, without a trailing `/`.
    endpoint: String,
    /// The cache folder holding `models--owner--name/` folders.
    cache: PathBuf,
    /// Whether to use the cache only.
    offline: bool,
    /// The access token sent to the hub.
    token: Option<String>,
}

impl HubSettings {
    /// The settings `var` (an environment lookup) gives, with
    /// `huggingface_hub`'s defaults; empty values count as unset.
    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, HubError> {
        let get = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let hf_home = get("HF_HOME").map(PathBuf::from).or_else(|| {
            let cache = get("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| {
                let home = get("HOME").or_else(|| get("USERPROFILE"))?;
                Some(Path::new(&home).join(".cache"))
            })?;
            Some(cache.join("huggingface"))
        });
        let cache = get("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| hf_home.as_ref().map(|home| home.join("hub")))
            .ok_or(HubError::NoCache)?;
        let endpoint = get("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cache,
            offline: get("HF_HUB_OFFLINE").is_some_and(|value| is_true(&value)),
            token: get("HF_TOKEN").or_else(|| hf_home.as_deref().and_then(saved_token)),
        })
    }
}

/// `huggingface_hub`'s truthy environment values.
fn is_true(value: &str) -> bool {
    ["1", "ON", "YES", "TRUE"]
        .iter()
        .any(|yes| value.trim().eq_ignore_ascii_case(yes))
}

/// The token `hf auth login` saved in `hf_home`, if any.
fn saved_token(hf_home: &Path) -> Option<String> {
    let token = fs::read_to_string(hf_home.join("token")).ok()?;
    Some(token.trim().to_string()).filter(|token| !token.is_empty())
}

/// A list of `files` for messages: the required ones, then the optional ones.
fn file_list(files: &[ModelFile]) -> String {
    let names = |required: bool| {
        let named = files.iter().filter(|file| file.required == required);
        named
            .map(|file| format!("`{}`", file.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (names(true), names(false)) {
        (needed, optional) if optional.is_empty() => needed,
        (needed, optional) if needed.is_empty() => {
            format!("{optional} where the repository has them")
        }
        (needed, optional) => format!("{needed} (and {optional} where the repository has them)"),
    }
}

/// One repository's folder in the Hugging Face cache.
struct RepoCache {
    /// `models--owner--name/`.
    dir: PathBuf,
    /// The revision asked for.
    revision: String,
    /// hf-hub's handle on the folder, which writes its refs.
    hub: CacheRepo,
}

impl RepoCache {
    /// The folder of `id`'s repository in the cache folder `cache`.
    fn new(cache: &Path, id: &HubId) -> Self {
        let repo = Repo::with_revision(id.repo.clone(), RepoType::Model, id.revision.clone());
        Self {
            dir: cache.join(repo.folder_name()),
            revision: id.revision.clone(),
            hub: Cache::new(cache.to_path_buf()).repo(repo),
        }
    }

    /// The cached commit the revision stands for: its ref, or the revision
    /// itself where it is a commit hash.
    fn commit(&self) -> Option<String> {
        match fs::read_to_string(self.dir.join("refs").join(&self.revision)) {
            Ok(commit) => Some(commit.trim().to_string()).filter(|commit| !commit.is_empty()),
            Err(_) => is_commit_hash(&self.revision).then(|| self.revision.clone()),
        }
    }

    /// The snapshot directory of `commit`.
    fn snapshot(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    /// Where the absence of `name` from `commit` is recorded.
    fn absence(&self, commit: &str, name: &str) -> PathBuf {
        self.dir.join(".no_exist").join(commit).join(name)
    }

    /// Whether `commit`'s snapshot holds `file`, or, for an optional file,
    /// the cache records that the commit lacks it.
    fn has(&self, commit: &str, file: &ModelFile) -> bool {
        self.snapshot(commit).join(file.name).exists()
            || (!file.required && self.absence(commit, file.name).exists())
    }

    /// The commit whose snapshot a downloaded file lies in.
    fn commit_of(&self, path: &Path) -> Option<String> {
        let in_snapshots = path.strip_prefix(self.dir.join("snapshots")).ok()?;
        let commit = in_snapshots.components().next()?.as_os_str().to_str()?;
        Some(commit.to_string())
    }

    /// Records that `commit` lacks `name`, as `huggingface_hub` does.
    fn record_absence(&self, commit: &str, name: &str) -> Result<(), HubError> {
        let path = self.absence(commit, name);
        let folder = path.parent().map_or(Ok(()), fs::create_dir_all);
        folder
            .and_then(|()| fs::write(&path, b""))
            .map_err(|source| HubError::CacheWrite {
                path: path.clone(),
                source,
            })
    }

    /// Points the revision's ref at `commit`, unless it does already.
    fn point_ref(&self, commit: &str) -> Result<(), HubError> {
        if self.commit().as_deref() == Some(commit) {
            return Ok(());
        }
        let path = self.dir.join("refs").join(&self.revision);
        self.hub
            .create_ref(commit)
            .map_err(|source| HubError::CacheWrite { path, source })
    }
}

/// How one download failed, as far as resolving cares.
enum Failure {
    /// The hub answered 404 for the file itself; `commit` is the commit it
    /// looked in, where it said.
    Absent { commit: Option<String> },
    /// The hub answered another error status, with its `x-error-code`.
    Status { status: u16, code: Option<String> },
    /// No answer: the connection failed.
    Unreachable { reason: String },
    /// Anything else hf-hub reports (a malformed answer, a cache write).
    Other(ApiError),
}

impl Failure {
    /// Sorts an hf-hub error.
    fn classify(error: ApiError) -> Self {
        let request = match error {
            ApiError::RequestError(request) => request,
            other => return Failure::Other(other),
        };
        let reason = request.to_string();
        let Some(response) = (*request).into_response() else {
            return Failure::Unreachable { reason };
        };
        let code = response.header("x-error-code").map(str::to_string);
        match (response.status(), code.as_deref()) {
            (404, None | Some("EntryNotFound")) => Failure::Absent {
                commit: response.header("x-repo-commit").map(str::to_string),
            },
            (status, _) => Failure::Status { status, code },
        }
    }
}

/// Resolving one hub id: the files asked for, the settings and the cache.
struct HubFetch<'a> {
    id: &'a HubId,
    files: &'a [ModelFile],
    settings: &'a HubSettings,
    cache: RepoCache,
}

impl<'a> HubFetch<'a> {
    /// Resolving `id`'s `files` with `settings`.
    fn new(id: &'a HubId, files: &'a [ModelFile], settings: &'a HubSettings) -> Self {
        let cache = RepoCache::new(&settings.cache, id);
        Self {
            id,
            files,
            settings,
            cache,
        }
    }

    /// The snapshot directory holding the files, downloading what is missing.
    fn run(&self) -> Result<ResolvedModel, HubError> {
        let cached = self.cache.commit();
        let missing: Vec<&ModelFile> = self
            .files
            .iter()
            .filter(|file| {
                !cached
                    .as_deref()
                    .is_some_and(|commit| self.cache.has(commit, file))
            })
            .collect();
        let (commit, downloaded) = if missing.is_empty() {
            (cached, Vec::new())
        } else if self.settings.offline {
            (self.offline(cached, &missing)?, Vec::new())
        } else {
            self.download(cached, &missing)?
        };
        let commit = commit.ok_or_else(|| HubError::NoFiles {
            repo: self.id.repo.clone(),
            revision: self.id.revision.clone(),
            files: file_list(self.files),
            cache: self.settings.cache.clone(),
        })?;
        Ok(ResolvedModel {
            dir: self.cache.snapshot(&commit),
            source: ModelSource::Hub {
                repo: self.id.repo.clone(),
                revision: self.id.revision.clone(),
                downloaded,
            },
        })
    }

    /// The cached commit, when no `missing` file is required.
    fn offline(
        &self,
        cached: Option<String>,
        missing: &[&ModelFile],
    ) -> Result<Option<String>, HubError> {
        match missing.iter().find(|file| file.required) {
            Some(file) => Err(HubError::NotCached {
                repo: self.id.repo.clone(),
                revision: self.id.revision.clone(),
                file: file.name.to_string(),
                cache: self.settings.cache.clone(),
            }),
            None => Ok(cached),
        }
    }

    /// Downloads the `missing` files, from the `cached` commit where there is
    /// one, else from the revision and then from the commit the first
    /// download came from; returns that commit and the files downloaded.
    fn download(
        &self,
        cached: Option<String>,
        missing: &[&ModelFile],
    ) -> Result<(Option<String>, Vec<String>), HubError> {
        let api = self.client()?;
        let mut commit = cached;
        let mut downloaded = Vec::new();
        for file in missing {
            let revision = commit.as_deref().unwrap_or(&self.id.revision);
            let repo =
                Repo::with_revision(self.id.repo.clone(), RepoType::Model, revision.to_string());
            match api
                .repo(repo)
                .download(file.name)
                .map_err(Failure::classify)
            {
                Ok(path) => {
                    commit = self.cache.commit_of(&path).or(commit);
                    downloaded.push(file.name.to_string());
                }
                Err(Failure::Absent { commit: answered }) if !file.required => {
                    commit = answered.or(commit);
                    if let Some(commit) = &commit {
                        self.cache.record_absence(commit, file.name)?;
                    }
                }
                Err(failure) => return Err(self.error(failure, file.name, revision)),
            }
        }
        if let Some(commit) = &commit {
            self.cache.point_ref(commit)?;
        }
        Ok((commit, downloaded))
    }

    /// A silent hf-hub client for the settings' hub and cache.
    fn client(&self) -> Result<Api, HubError> {
        ApiBuilder::from_cache(Cache::new(self.settings.cache.clone()))
            .with_endpoint(self.settings.endpoint.clone())
            .with_token(self.settings.token.clone())
            .with_progress(false)
            .with_user_agent("autolabel", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|source| HubError::Client {
                endpoint: self.settings.endpoint.clone(),
                source,
            })
    }

    /// The error a failed download of `file` from `revision` (the one asked
    /// for, or the commit it was pinned to) is.
    fn error(&self, failure: Failure, file: &str, revision: &str) -> HubError {
        let repo = self.id.repo.clone();
        let endpoint = self.settings.endpoint.clone();
        match failure {
            Failure::Absent { .. } => HubError::MissingFile {
                repo,
                revision: revision.to_string(),
                file: file.to_string(),
                endpoint,
            },
            Failure::Status { status: 404, code }
                if code.as_deref() == Some("RevisionNotFound") =>
            {
                HubError::UnknownRevision {
                    repo,
                    revision: revision.to_string(),
                    endpoint,
                }
            }
            Failure::Status { status, code }
                if matches!(status, 401 | 403)
                    || matches!(code.as_deref(), Some("RepoNotFound" | "GatedRepo")) =>
            {
                HubError::RepoUnavailable {
                    repo,
                    endpoint,
                    status,
                }
            }
            Failure::Status { status, .. } => HubError::Http {
                repo,
                file: file.to_string(),
                endpoint,
                status,
            },
            Failure::Unreachable { reason } => HubError::Unreachable {
                endpoint,
                repo,
                files: file_list(self.files),
                reason,
            },
            Failure::Other(source) => HubError::Download {
                repo,
                file: file.to_string(),
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::hash::{DefaultHasher, Hash, Hasher};
    use std::io::{BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::Duration;

    /// The commit every served repository is at.
    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
    const CONFIG: &[u8] = b"{\"model_type\": \"tiny\"}";
    const WEIGHTS: &[u8] = b"not really safetensors, but bytes to compare";

    fn files() -> [ModelFile; 3] {
        [
            ModelFile::required("config.json"),
            ModelFile::required("model.safetensors"),
            ModelFile::optional("vocab.txt"),
        ]
    }

    /// Repository `owner/name` → file name → contents.
    type Repos = HashMap<&'static str, HashMap<&'static str, &'static [u8]>>;

    /// `acme/tiny` with a config and weights but no `vocab.txt`, and
    /// `acme/partial` with a config only.
    fn repos() -> Repos {
        HashMap::from([
            (
                "acme/tiny",
                HashMap::from([("config.json", CONFIG), ("model.safetensors", WEIGHTS)]),
            ),
            ("acme/partial", HashMap::from([("config.json", CONFIG)])),
        ])
    }

    /// A request the test hub answered.
    #[derive(Debug, Clone)]
    struct Request {
        method: String,
        path: String,
        range: Option<String>,
    }

    impl Request {
        /// Whether it read a file's contents, not just its metadata
        /// (hf-hub asks for `bytes=0-0` for those).
        fn reads_body(&self) -> bool {
            self.method == "GET" && self.range.as_deref() != Some("bytes=0-0")
        }
    }

    /// The hub's `/{owner}/{name}/resolve/{revision}/{file}` on 127.0.0.1,
    /// answered one connection at a time until dropped.
    struct TestHub {
        addr: SocketAddr,
        log: Arc<Mutex<Vec<Request>>>,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl TestHub {
        fn start(repos: Repos) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let log = Arc::new(Mutex::new(Vec::new()));
            let stop = Arc::new(AtomicBool::new(false));
            let (thread_log, thread_stop) = (Arc::clone(&log), Arc::clone(&stop));
            let thread = std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if thread_stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let _ = answer(stream, &repos, &thread_log);
                    }
                }
            });
            Self {
                addr,
                log,
                stop,
                thread: Some(thread),
            }
        }

        fn endpoint(&self) -> String {
            format!("http://{}", self.addr)
        }

        fn requests(&self) -> Vec<Request> {
            self.log.lock().unwrap().clone()
        }
    }

    impl Drop for TestHub {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// Reads one request from `stream`, logs it and answers it.
    fn answer(
        mut stream: TcpStream,
        repos: &Repos,
        log: &Mutex<Vec<Request>>,
    ) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut words = line.split_whitespace().map(str::to_string);
        let (method, path) = (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        );
        let mut range = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("range")
            {
                range = Some(value.trim().to_string());
            }
        }
        let response = respond(&method, &path, range.as_deref(), repos);
        log.lock().unwrap().push(Request {
            method,
            path,
            range,
        });
        stream.write_all(&response)
    }

    /// The hub's answer: the file (or the `Range` of it asked for) with the
    /// headers hf-hub reads, or 404.
    fn respond(method: &str, path: &str, range: Option<&str>, repos: &Repos) -> Vec<u8> {
        let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
        let [owner, name, "resolve", revision, file] = parts[..] else {
            return b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                .to_vec();
        };
        let repo = repos.get(format!("{owner}/{name}").as_str());
        let known_revision = revision == "main" || revision == COMMIT;
        let Some(body) = repo
            .and_then(|files| files.get(file))
            .filter(|_| known_revision)
        else {
            return format!(
                "HTTP/1.1 404 Not Found\r\nx-error-code: EntryNotFound\r\nx-repo-commit: {COMMIT}\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n"
            )
            .into_bytes();
        };
        let (start, end) = byte_range(range, body.len());
        let part = &body[start..=end];
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        let status = if range.is_some() {
            "206 Partial Content"
        } else {
            "200 OK"
        };
        let mut response = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-range: bytes {start}-{end}/{}\r\n\
             etag: \"{:016x}\"\r\nx-repo-commit: {COMMIT}\r\nconnection: close\r\n\r\n",
            part.len(),
            body.len(),
            hasher.finish(),
        )
        .into_bytes();
        if method == "GET" {
            response.extend_from_slice(part);
        }
        response
    }

    /// The first and last byte `bytes=S-E` or `bytes=S-` asks for of `len`.
    fn byte_range(range: Option<&str>, len: usize) -> (usize, usize) {
        let Some((start, end)) = range.and_then(|r| r.strip_prefix("bytes=")?.split_once('-'))
        else {
            return (0, len - 1);
        };
        let start = start.parse().unwrap_or(0);
        let end = end.parse().map_or(len - 1, |end: usize| end.min(len - 1));
        (start, end)
    }

    /// A scratch directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("autolabel-hub-{}-{tag}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn settings(endpoint: &str, dir: &TempDir, offline: bool) -> HubSettings {
        HubSettings {
            endpoint: endpoint.to_string(),
            cache: dir.0.join("hub"),
            offline,
            token: None,
        }
    }

    fn resolve(arg: &str, settings: &HubSettings) -> Result<ResolvedModel, HubError> {
        let id = HubId::parse(arg).unwrap();
        HubFetch::new(&id, &files(), settings).run()
    }

    fn downloaded(model: &ResolvedModel) -> Vec<String> {
        match &model.source {
            ModelSource::Hub { downloaded, .. } => downloaded.clone(),
            ModelSource::Local => panic!("{model:?} is local"),
        }
    }

    /// A port nothing listens on.
    fn closed_endpoint() -> String {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        format!("http://127.0.0.1:{port}")
    }

    #[test]
    fn first_resolve_downloads_into_the_cache_layout_and_skips_a_missing_optional_file() {
        let hub = TestHub::start(repos());
        let dir = TempDir::new("first");
        let settings = settings(&hub.endpoint(), &dir, false);
        let model = resolve("acme/tiny", &settings).unwrap();

        let repo_dir = settings.cache.join("models--acme--tiny");
        assert_eq!(model.dir, repo_dir.join("snapshots").join(COMMIT));
        assert_eq!(
            model.source,
            ModelSource::Hub {
                repo: "acme/tiny".into(),
                revision: "main".into(),
                downloaded: vec!["config.json".into(), "model.safetensors".into()],
            }
        );
        assert_eq!(fs::read(model.dir.join("config.json")).unwrap(), CONFIG);
        assert_eq!(
            fs::read(model.dir.join("model.safetensors")).unwrap(),
            WEIGHTS
        );
        assert!(!model.dir.join("vocab.txt").exists());
        assert!(
            fs::symlink_metadata(model.dir.join("config.json"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(
            fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
            COMMIT
        );
        assert_eq!(
            fs::read_dir(repo_dir.join("blobs"))
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_none())
                .count(),
            2
        );
        assert!(
            repo_dir
                .join(".no_exist")
                .join(COMMIT)
                .join("vocab.txt")
                .exists()
        );
        let bodies: Vec<_> = hub
            .requests()
            .into_iter()
            .filter(Request::reads_body)
            .collect();
        assert_eq!(bodies.len(), 2, "{bodies:?}");
    }

    #[test]
    fn second_resolve_asks_the_hub_nothing() {
        let hub = TestHub::start(repos());
        let dir = TempDir::new("second");
        let settings = settings(&hub.endpoint(), &dir, false);
        let first = resolve("acme/tiny", &settings).unwrap();
        let asked = hub.requests().len();

        let second = resolve("acme/tiny", &settings).unwrap();
        assert_eq!(second.dir, first.dir);
        assert!(downloaded(&second).is_empty());
        let later = &hub.requests()[asked..];
        assert!(
            later.is_empty(),
            "the cached repo was asked for again: {later:?}"
        );
    }

    #[test]
    fn a_partly_cached_repo_is_completed_from_its_cached_commit() {
        let hub = TestHub::start(repos());
        let dir = TempDir::new("partly");
        let settings = settings(&hub.endpoint(), &dir, false);
        let first = resolve("acme/tiny", &settings).unwrap();
        fs::remove_file(first.dir.join("model.safetensors")).unwrap();
        let asked = hub.requests().len();

        let second = resolve("acme/tiny", &settings).unwrap();
        assert_eq!(second.dir, first.dir);
        assert_eq!(downloaded(&second), ["model.safetensors"]);
        let later = &hub.requests()[asked..];
        assert!(
            later.iter().all(|request| request.path.contains(COMMIT)),
            "{later:?}"
        );
        assert_eq!(
            fs::read(second.dir.join("model.safetensors")).unwrap(),
            WEIGHTS
        );
    }

    #[test]
    fn offline_mode_uses_the_cache_only() {
        let hub = TestHub::start(repos());
        let dir = TempDir::new("offline");
        let online = resolve("acme/tiny", &settings(&hub.endpoint(), &dir, false)).unwrap();
        let asked = hub.requests().len();

        let offline = settings(&hub.endpoint(), &dir, true);
        let cached = resolve("acme/tiny", &offline).unwrap();
        assert_eq!(cached.dir, online.dir);
        assert!(downloaded(&cached).is_empty());
        assert_eq!(hub.requests().len(), asked);

        let error = resolve("acme/other", &offline).unwrap_err();
        assert!(matches!(error, HubError::NotCached { .. }), "{error:?}");
        let message = error.to_string();
        for needle in ["offline", "HF_HUB_OFFLINE", "config.json", "acme/other"] {
            assert!(message.contains(needle), "{needle:?} not in {message:?}");
        }
        assert_eq!(hub.requests().len(), asked);
    }

    #[test]
    fn a_required_file_missing_on_the_hub_is_an_error_naming_it() {
        let hub = TestHub::start(repos());
        let dir = TempDir::new("missing");
        let error = resolve("acme/partial", &settings(&hub.endpoint(), &dir, false)).unwrap_err();
        assert!(matches!(error, HubError::MissingFile { .. }), "{error:?}");
        let message = error.to_string();
        for needle in ["acme/partial", "`model.safetensors`"] {
            assert!(message.contains(needle), "{needle:?} not in {message:?}");
        }
    }

    #[test]
    fn an_existing_directory_is_used_as_is() {
        let dir = TempDir::new("local");
        let model = resolve_model(dir.0.to_str().unwrap(), &files()).unwrap();
        assert_eq!(
            model,
            ResolvedModel {
                dir: dir.0.clone(),
                source: ModelSource::Local,
            }
        );
    }

    #[test]
    fn a_missing_path_that_is_no_hub_id_is_refused_clearly() {
        let error = resolve_model("./no/such/model", &files()).unwrap_err();
        assert!(matches!(error, HubError::NotFound { .. }), "{error:?}");
        let message = error.to_string();
        for needle in ["./no/such/model", "does not exist", "`owner/name`"] {
            assert!(message.contains(needle), "{needle:?} not in {message:?}");
        }
    }

    #[test]
    fn an_unreachable_hub_is_named_and_local_directories_suggested() {
        let dir = TempDir::new("unreachable");
        let endpoint = closed_endpoint();
        let error = resolve("acme/tiny", &settings(&endpoint, &dir, false)).unwrap_err();
        assert!(matches!(error, HubError::Unreachable { .. }), "{error:?}");
        let message = error.to_string();
        for needle in [
            endpoint.as_str(),
            "`config.json`",
            "`model.safetensors`",
            "`vocab.txt`",
            "local directory",
        ] {
            assert!(message.contains(needle), "{needle:?} not in {message:?}");
        }
    }

    #[test]
    fn hub_ids_are_owner_slash_name_with_an_optional_revision() {
        let id = |repo: &str, revision: &str| {
            Some(HubId {
                repo: repo.into(),
                revision: revision.into(),
            })
        };
        assert_eq!(
            HubId::parse("IDEA-Research/grounding-dino-tiny"),
            id("IDEA-Research/grounding-dino-tiny", "main")
        );
        assert_eq!(
            HubId::parse("facebook/sam2.1-hiera-tiny@v1.0"),
            id("facebook/sam2.1-hiera-tiny", "v1.0")
        );
        assert_eq!(HubId::parse("a/b@refs/pr/1"), id("a/b", "refs/pr/1"));
        for bad in [
            "gpt2",
            "a/b/c",
            "/a",
            "a/",
            "a/b@",
            "../x",
            "./x",
            "C:/models",
            "a/b@../x",
            "a/b c",
            "a--b/c",
        ] {
            assert_eq!(HubId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn settings_follow_huggingface_hub_environment_variables() {
        let from = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            HubSettings::from_vars(|name| vars.get(name).cloned())
        };
        let home = from(&[("HOME", "/home/u")]).unwrap();
        assert_eq!(home.cache, Path::new("/home/u/.cache/huggingface/hub"));
        assert_eq!(home.endpoint, DEFAULT_ENDPOINT);
        assert!(!home.offline);
        let xdg = from(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg")]).unwrap();
        assert_eq!(xdg.cache, Path::new("/xdg/huggingface/hub"));
        let hf_home = from(&[("HOME", "/home/u"), ("HF_HOME", "/hf")]).unwrap();
        assert_eq!(hf_home.cache, Path::new("/hf/hub"));
        let hub_cache = from(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/cache")]).unwrap();
        assert_eq!(hub_cache.cache, Path::new("/cache"));
        let mirror = from(&[
            ("HOME", "/h"),
            ("HF_ENDPOINT", "http://mirror:8080/"),
            ("HF_HUB_OFFLINE", "true"),
            ("HF_TOKEN", "hf_x"),
        ])
        .unwrap();
        assert_eq!(mirror.endpoint, "http://mirror:8080");
        assert!(mirror.offline);
        assert_eq!(mirror.token.as_deref(), Some("hf_x"));
        assert!(
            !from(&[("HOME", "/h"), ("HF_HUB_OFFLINE", "0")])
                .unwrap()
                .offline
        );
        assert!(matches!(from(&[]), Err(HubError::NoCache)));
    }
}
