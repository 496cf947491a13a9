//! The `org.qubes.ConfigSync1.Templates` interface, served on the same object as
//! `org.qubes.ConfigSync1`: variables, marking files as templates, previews, and the
//! template side of a proposal's review. Like the main interface, each method parses
//! its names at the edge and runs the backend's blocking work off the executor.

use std::sync::Arc;

use zbus::interface;

use super::error::Error;
use crate::backend::{Backend, BackendError, templates, views};

/// The served interface.
pub struct Templates {
    backend: Arc<Backend>,
}

impl Templates {
    pub fn new(backend: Arc<Backend>) -> Self {
        Templates { backend }
    }
}

async fn run<T: Send + 'static>(
    backend: &Arc<Backend>,
    f: impl FnOnce(&Arc<Backend>) -> Result<T, BackendError> + Send + 'static,
) -> Result<T, Error> {
    let backend = Arc::clone(backend);
    blocking::unblock(move || f(&backend))
        .await
        .map_err(Error::from)
}

#[interface(name = "org.qubes.ConfigSync1.Templates")]
impl Templates {
    async fn set_variable(
        &self,
        scope: String,
        target: String,
        name: String,
        value: String,
    ) -> Result<(), Error> {
        run(&self.backend, move |b| {
            b.set_variable(&templates::scope(&scope, &target)?, &name, &value)
        })
        .await
    }

    async fn unset_variable(
        &self,
        scope: String,
        target: String,
        name: String,
    ) -> Result<(), Error> {
        run(&self.backend, move |b| {
            b.unset_variable(&templates::scope(&scope, &target)?, &name)
        })
        .await
    }

    #[zbus(out_args("variables_json"))]
    async fn list_variables(&self, qube: String) -> Result<String, Error> {
        run(&self.backend, move |b| {
            let qube = (!qube.is_empty())
                .then(|| views::qube_name(&qube))
                .transpose()?;
            views::to_json(&b.list_variables(qube.as_ref())?)
        })
        .await
    }

    #[zbus(out_args("generation"))]
    async fn put_template_file(
        &self,
        profile: String,
        path: String,
        content: Vec<u8>,
        mode: u32,
    ) -> Result<u64, Error> {
        run(&self.backend, move |b| {
            b.put_template_file(
                &views::profile_id(&profile)?,
                &views::relative_path(&path)?,
                &content,
                mode,
            )
        })
        .await
    }

    #[zbus(out_args("generation"))]
    async fn set_file_template(
        &self,
        profile: String,
        path: String,
        template: bool,
    ) -> Result<u64, Error> {
        run(&self.backend, move |b| {
            b.set_file_template(
                &views::profile_id(&profile)?,
                &views::relative_path(&path)?,
                template,
            )
        })
        .await
    }

    #[zbus(out_args("paths"))]
    async fn templated_files(&self, profile: String) -> Result<Vec<String>, Error> {
        run(&self.backend, move |b| {
            b.templated_files(&views::profile_id(&profile)?)
        })
        .await
    }

    #[zbus(out_args("preview_json"))]
    async fn preview_template(
        &self,
        profile: String,
        path: String,
        qube: String,
    ) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.preview_template(
                &views::profile_id(&profile)?,
                &views::relative_path(&path)?,
                &views::qube_name(&qube)?,
            )?)
        })
        .await
    }

    #[zbus(out_args("template_json"))]
    async fn get_proposal_template(&self, id: i64) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.proposal_template(id)?)
        })
        .await
    }

    #[zbus(out_args("summary_json"))]
    async fn export_profiles(&self, dir: String, profiles: Vec<String>) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.export_profiles(&dir, &views::profile_ids(&profiles)?)?)
        })
        .await
    }

    #[zbus(out_args("summary_json"))]
    async fn import_profiles(&self, dir: String) -> Result<String, Error> {
        run(&self.backend, move |b| {
            views::to_json(&b.import_profiles(&dir)?)
        })
        .await
    }
}
