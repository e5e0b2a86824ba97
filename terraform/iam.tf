# One service account per service, each granted only what its service does.

resource "google_service_account" "service" {
  for_each     = toset(local.services)
  account_id   = "atiende-${each.key}"
  display_name = "atiende ${each.key}"
}

# The identity Pub/Sub signs push requests with; only it may invoke the consumers.
resource "google_service_account" "push" {
  account_id   = "atiende-pubsub-push"
  display_name = "atiende Pub/Sub push"
}

locals {
  grants = {
    # Ingest: publish inbound events; read tenants, record delivery receipts and dedupe keys.
    ingest_publish   = { sa = "ingest", role = "roles/pubsub.publisher" }
    ingest_store     = { sa = "ingest", role = "roles/datastore.user" }
    processor_pub    = { sa = "processor", role = "roles/pubsub.publisher" }
    processor_store  = { sa = "processor", role = "roles/datastore.user" }
    dispatcher_store = { sa = "dispatcher", role = "roles/datastore.user" }
    admin_store      = { sa = "admin", role = "roles/datastore.user" }
    # Admin reads the topics for /health/ready and its dead-letter view.
    admin_pubsub = { sa = "admin", role = "roles/pubsub.viewer" }
  }
}

resource "google_project_iam_member" "grants" {
  for_each = local.grants
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.service[each.value.sa].email}"
}

# /health/ready on the consumers reads their topic too.
resource "google_project_iam_member" "consumers_pubsub_viewer" {
  for_each = toset(["processor", "dispatcher"])
  project  = var.project_id
  role     = "roles/pubsub.viewer"
  member   = "serviceAccount:${google_service_account.service[each.key].email}"
}
