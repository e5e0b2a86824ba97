# Customers' photos, documents and voice notes, and the files agents send back, in one bucket:
# the processor writes what customers send, admin writes what agents send and reads both for
# the console (and deletes a deleted tenant's), ingest reads agents' files to serve them to
# Twilio and Meta (and customers' files to an agent at Rocket.Chat, by a link the dispatcher
# signed with the key in secrets.tf), the dispatcher reads customers' files to attach them at Chatwoot. No instance's disk holds media (each is its own and vanishes on scale-down).

resource "google_storage_bucket" "media" {
  name                        = "${var.project_id}-atiende-media"
  location                    = var.region
  uniform_bucket_level_access = true
  # Never public: ingest serves agents' files itself, by unguessable key.
  public_access_prevention = "enforced"

  lifecycle_rule {
    condition {
      age = var.media_retention_days
    }
    action {
      type = "Delete"
    }
  }
  depends_on = [google_project_service.apis]
}

locals {
  media_access = {
    processor  = "roles/storage.objectUser"
    admin      = "roles/storage.objectUser"
    ingest     = "roles/storage.objectViewer"
    dispatcher = "roles/storage.objectViewer"
  }
}

resource "google_storage_bucket_iam_member" "media" {
  for_each = local.media_access
  bucket   = google_storage_bucket.media.name
  role     = each.value
  member   = "serviceAccount:${google_service_account.service[each.key].email}"
}
