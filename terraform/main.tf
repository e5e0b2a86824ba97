# atiende on Google Cloud: four Cloud Run services (ingest, processor, dispatcher, admin), each
# with its own service account; Pub/Sub between them with push subscriptions authenticated by
# OIDC; Firestore for state; Cloud Storage for media; Secret Manager for the admin token; Artifact Registry for images; a
# Cloud Build trigger that tests, builds and deploys. docs/deploy.md walks through it.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  services = ["ingest", "processor", "dispatcher", "admin"]
  registry = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
  # Cloud Run's deterministic URL (https://{service}-{project number}.{region}.run.app), known
  # before the services exist: the push subscriptions and ingest's own public URL need it.
  run_url    = { for s in local.services : s => "https://atiende-${s}-${data.google_project.this.number}.${var.region}.run.app" }
  public_url = var.public_base_url != "" ? var.public_base_url : local.run_url["ingest"]
  # Where Cloud Scheduler tells ingest to sweep waiting customers (scheduler.tf).
  desk_wait_url = "${local.run_url["ingest"]}/tasks/desk-wait"

  # Settings every service shares (docs/configuration.md).
  common_env = {
    ATIENDE_STORE__BACKEND = "firestore"
    ATIENDE_BUS__BACKEND   = "pubsub"
    ATIENDE_GCP__PROJECT   = var.project_id
    ATIENDE_DEMO           = "false"
    ATIENDE_LOG__FORMAT    = "json"
    # Nothing is written there: with Firestore and Pub/Sub every piece of state is shared,
    # and an instance's disk (gone on scale-down) holds nothing (tests/e2e/scale_to_zero.rs).
    ATIENDE_DATA_DIR = "/tmp/atiende"
    # Media lives in Cloud Storage (media.tf).
    ATIENDE_MEDIA__BUCKET = google_storage_bucket.media.name
  }
  # Ingest and the dispatcher build no knowledge index or embedding model at all; the
  # processor and admin load multilingual-e5-small (shipped in their images).
  service_env = {
    # Cloud Scheduler calls ingest's /tasks/desk-wait with an OIDC token of the push account.
    ingest = {
      ATIENDE_PUBLIC_URL                = local.public_url
      ATIENDE_GCP__PUSH_SERVICE_ACCOUNT = google_service_account.push.email
      ATIENDE_GCP__PUSH_AUDIENCE        = local.desk_wait_url
      # Cloud Run's front end appends the client's address to X-Forwarded-For: the web chat's
      # per-address limits read that entry, not the ones a client wrote.
      ATIENDE_LIMITS__TRUSTED_PROXY_HOPS = "1"
    }
    # The consumers verify Pub/Sub's OIDC token: its account, and its audience (the push URL).
    processor = {
      ATIENDE_PUBLIC_URL                = local.public_url
      ATIENDE_GCP__PUSH_SERVICE_ACCOUNT = google_service_account.push.email
      ATIENDE_GCP__PUSH_AUDIENCE        = module.bus.push_endpoints["atiende-inbound"]
      ATIENDE_KNOWLEDGE__EMBEDDER       = "e5"
    }
    dispatcher = {
      ATIENDE_PUBLIC_URL                = local.public_url
      ATIENDE_GCP__PUSH_SERVICE_ACCOUNT = google_service_account.push.email
      ATIENDE_GCP__PUSH_AUDIENCE        = module.bus.push_endpoints["atiende-outbound"]
    }
    admin = {
      ATIENDE_PUBLIC_URL          = local.public_url
      ATIENDE_KNOWLEDGE__EMBEDDER = "e5"
    }
  }
  secret_env = {
    ingest = { ATIENDE_MEDIA__LINK_KEY = google_secret_manager_secret.media_link_key.secret_id }
    processor = merge(
      var.llm_providers_secret != "" ? { ATIENDE_LLM__PROVIDERS = var.llm_providers_secret } : {},
      var.transcription_secret != "" ? { ATIENDE_LLM__TRANSCRIPTION = var.transcription_secret } : {},
    )
    dispatcher = { ATIENDE_MEDIA__LINK_KEY = google_secret_manager_secret.media_link_key.secret_id }
    admin      = { ATIENDE_ADMIN_TOKEN = google_secret_manager_secret.admin_token.secret_id }
  }
  invokers = {
    ingest     = ["allUsers"]
    processor  = ["serviceAccount:${google_service_account.push.email}"]
    dispatcher = ["serviceAccount:${google_service_account.push.email}"]
    admin      = ["allUsers"]
  }
}

resource "google_project_service" "apis" {
  for_each = toset([
    "run.googleapis.com",
    "pubsub.googleapis.com",
    "firestore.googleapis.com",
    "secretmanager.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "iam.googleapis.com",
    "cloudscheduler.googleapis.com",
    "storage.googleapis.com",
  ])
  service            = each.value
  disable_on_destroy = false
}

resource "google_artifact_registry_repository" "images" {
  location      = var.region
  repository_id = "atiende"
  format        = "DOCKER"
  description   = "atiende's service images"
  depends_on    = [google_project_service.apis]
}

module "service" {
  source   = "./modules/cloud_run_service"
  for_each = toset(local.services)

  name                    = "atiende-${each.key}"
  region                  = var.region
  image                   = "${local.registry}/${each.key}:${var.image_tag}"
  service_account         = google_service_account.service[each.key].email
  env                     = merge(local.common_env, local.service_env[each.key])
  secret_env              = local.secret_env[each.key]
  invokers                = local.invokers[each.key]
  min_instances           = var.scaling[each.key].min_instances
  max_instances           = var.scaling[each.key].max_instances
  concurrency             = var.scaling[each.key].concurrency
  request_timeout_seconds = each.key == "processor" ? 120 : 60
  memory                  = contains(["processor", "admin"], each.key) ? "1Gi" : "512Mi"
  cpu_always_allocated    = each.key == "processor"

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.admin_token,
    google_secret_manager_secret_iam_member.media_link_key,
    google_firestore_database.main,
  ]
}

module "bus" {
  source = "./modules/pubsub_bus"

  project_id            = var.project_id
  project_number        = data.google_project.this.number
  processor_url         = local.run_url["processor"]
  dispatcher_url        = local.run_url["dispatcher"]
  push_service_account  = google_service_account.push.email
  ack_deadline_seconds  = 120
  max_delivery_attempts = var.max_delivery_attempts

  depends_on = [google_project_service.apis]
}
