# Every piece of atiende's state: tenants, conversations, the outbox, delivery receipts,
# knowledge and its vectors, agents and desk links, web chat transcripts, accounts, the model
# budget's ledger, the security audit, ingestion jobs, dead letters and webhook dedupe keys
# (crates/adapters/gcp documents each layout). Queries filter by equality on single fields,
# which Firestore indexes by itself; the composite indexes below are the only others needed.

resource "google_firestore_database" "main" {
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  depends_on                        = [google_project_service.apis]
}

# Dedupe keys expire by themselves (ATIENDE_GCP__DEDUPE_TTL_SECS sets expire_at).
resource "google_firestore_field" "dedupe_ttl" {
  database   = google_firestore_database.main.name
  collection = "dedupe"
  field      = "expire_at"
  ttl_config {}
}

# Conversations listed by state, newest first (the admin view and the desk wait watch).
resource "google_firestore_index" "conversations_by_state" {
  database    = google_firestore_database.main.name
  collection  = "conversations"
  query_scope = "COLLECTION"
  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "updated_at"
    order      = "DESCENDING"
  }
}

# The outbox listed by state, newest first.
resource "google_firestore_index" "outbox_by_state" {
  database    = google_firestore_database.main.name
  collection  = "outbox"
  query_scope = "COLLECTION"
  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "updated_at"
    order      = "DESCENDING"
  }
}

# Recovery: any version of the last seven days can be read back (point-in-time recovery), and a
# daily backup is kept for two weeks.
resource "google_firestore_backup_schedule" "daily" {
  database  = google_firestore_database.main.name
  retention = "1209600s"
  daily_recurrence {}
}

# Web chat transcripts expire a week after their last line (crates/adapters/gcp/src/webchat.rs);
# both the sessions and their lines carry the timestamp.
resource "google_firestore_field" "webchat_ttl" {
  database   = google_firestore_database.main.name
  collection = "webchat"
  field      = "expire_at"
  ttl_config {}
}

resource "google_firestore_field" "webchat_lines_ttl" {
  database   = google_firestore_database.main.name
  collection = "lines"
  field      = "expire_at"
  ttl_config {}
}

# Knowledge ingestion jobs' status is kept for thirty days.
resource "google_firestore_field" "ingestion_jobs_ttl" {
  database   = google_firestore_database.main.name
  collection = "ingestion_jobs"
  field      = "expire_at"
  ttl_config {}
}
