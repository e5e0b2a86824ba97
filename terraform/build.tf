# Cloud Build: on a push to the deploy branch, cloudbuild.yaml tests, builds the four images,
# pushes them and deploys them to Cloud Run.

resource "google_service_account" "build" {
  account_id   = "atiende-build"
  display_name = "atiende Cloud Build"
}

resource "google_project_iam_member" "build" {
  for_each = toset([
    "roles/run.developer",
    "roles/artifactregistry.writer",
    "roles/logging.logWriter",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build.email}"
}

# Deploying a revision runs it as the service's own account.
resource "google_service_account_iam_member" "build_acts_as" {
  for_each           = toset(local.services)
  service_account_id = google_service_account.service[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.build.email}"
}

resource "google_cloudbuild_trigger" "deploy" {
  count           = var.github_owner != "" ? 1 : 0
  name            = "atiende-deploy"
  location        = var.region
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.build.id

  github {
    owner = var.github_owner
    name  = var.github_repository
    push {
      branch = var.deploy_branch
    }
  }

  substitutions = {
    _REGION   = var.region
    _REGISTRY = local.registry
  }
}
