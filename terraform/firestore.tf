# State: tenants, conversations, the outbox, delivery receipts, knowledge, dead letters and
# webhook dedupe keys (crates/adapters/gcp/src/store.rs documents the layout).

resource "google_firestore_database" "main" {
  name                        = "(default)"
  location_id                 = var.firestore_location
  type                        = "FIRESTORE_NATIVE"
  concurrency_mode            = "OPTIMISTIC"
  app_engine_integration_mode = "DISABLED"
  depends_on                  = [google_project_service.apis]
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

# An action's record found by its id across tenants (the dispatcher's finish).
resource "google_firestore_field" "outbox_action_id" {
  database   = google_firestore_database.main.name
  collection = "outbox"
  field      = "action_id"
  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}
