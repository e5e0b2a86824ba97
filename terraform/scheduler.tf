# Timers without a resident process. On Cloud Run the processor scales to zero between messages,
# so nothing may rely on a timer inside a service. Cloud Scheduler calls ingest (always up, one
# instance minimum) every minute; ingest sweeps the conversations waiting for a person and
# publishes a "nobody has taken it yet" event for those past their wait, which the processor
# handles — starting an instance if none runs — like any other event.

resource "google_cloud_scheduler_job" "desk_wait" {
  name        = "atiende-desk-wait"
  description = "Tell customers waiting for a person that nobody has taken their conversation yet."
  region      = var.region
  schedule    = "* * * * *"
  time_zone   = "Etc/UTC"
  # A sweep that fails is simply run again next minute.
  attempt_deadline = "60s"
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = local.desk_wait_url
    # The same identity Pub/Sub pushes with: ingest verifies its token like a push request's.
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.desk_wait_url
    }
  }

  depends_on = [google_project_service.apis, module.service]
}
