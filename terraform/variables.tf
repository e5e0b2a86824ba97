variable "project_id" {
  description = "The GCP project that hosts atiende."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run services, Artifact Registry and the Cloud Build trigger."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Location of the Firestore database (a region such as us-central1, or nam5)."
  type        = string
  default     = "nam5"
}

variable "image_tag" {
  description = "Tag of the four images to deploy (Cloud Build deploys by commit SHA)."
  type        = string
  default     = "latest"
}

variable "public_base_url" {
  description = "The URL providers call for webhooks, when a domain is mapped in front of ingest (https://chat.example.com). Empty: ingest's own run.app URL."
  type        = string
  default     = ""
}

variable "max_delivery_attempts" {
  description = "Pub/Sub's dead-letter backstop (5-100); atiende's consumers park a message themselves after ATIENDE_BUS__MAX_ATTEMPTS (50)."
  type        = number
  default     = 60
}

variable "scaling" {
  description = "min/max instances and concurrency per service."
  type = map(object({
    min_instances = number
    max_instances = number
    concurrency   = number
  }))
  default = {
    ingest     = { min_instances = 1, max_instances = 10, concurrency = 80 }
    processor  = { min_instances = 0, max_instances = 20, concurrency = 20 }
    dispatcher = { min_instances = 0, max_instances = 10, concurrency = 40 }
    admin      = { min_instances = 0, max_instances = 2, concurrency = 20 }
  }
}

variable "llm_providers_secret" {
  description = "Optional Secret Manager secret holding ATIENDE_LLM__PROVIDERS (a TOML/JSON list with API keys) for the processor; empty keeps the extractive engine."
  type        = string
  default     = ""
}

variable "media_retention_days" {
  description = "Days customers' and agents' files are kept in the media bucket before Cloud Storage deletes them."
  type        = number
  default     = 180
}

variable "transcription_secret" {
  description = "Optional Secret Manager secret holding ATIENDE_LLM__TRANSCRIPTION (a TOML table: base_url, model, api_key) for the processor; voice notes are transcribed with it, and go to a person without it."
  type        = string
  default     = ""
}

variable "github_owner" {
  description = "GitHub owner of the repository the Cloud Build trigger watches (empty: no trigger)."
  type        = string
  default     = ""
}

variable "github_repository" {
  description = "GitHub repository name for the Cloud Build trigger."
  type        = string
  default     = "atiende"
}

variable "deploy_branch" {
  description = "Branch whose pushes Cloud Build tests, builds and deploys."
  type        = string
  default     = "^main$"
}
