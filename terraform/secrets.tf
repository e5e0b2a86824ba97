# The admin API's bearer token. Terraform creates the secret; its value is added out of band
# (docs/deploy.md), so it never sits in Terraform state.
resource "google_secret_manager_secret" "admin_token" {
  secret_id = "atiende-admin-token"
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "admin_token" {
  secret_id = google_secret_manager_secret.admin_token.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service["admin"].email}"
}

# The key that signs links to customers' files for agents at Rocket.Chat: the dispatcher signs,
# ingest checks. Its value is added out of band too (docs/deploy.md).
resource "google_secret_manager_secret" "media_link_key" {
  secret_id = "atiende-media-link-key"
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "media_link_key" {
  for_each  = toset(["ingest", "dispatcher"])
  secret_id = google_secret_manager_secret.media_link_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service[each.key].email}"
}

resource "google_secret_manager_secret_iam_member" "llm_providers" {
  count     = var.llm_providers_secret != "" ? 1 : 0
  secret_id = var.llm_providers_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service["processor"].email}"
}

resource "google_secret_manager_secret_iam_member" "transcription" {
  count     = var.transcription_secret != "" ? 1 : 0
  secret_id = var.transcription_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service["processor"].email}"
}
