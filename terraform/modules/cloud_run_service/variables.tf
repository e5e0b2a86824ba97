variable "name" {
  description = "The Cloud Run service's name (atiende-ingest, atiende-processor, ...)."
  type        = string
}

variable "region" {
  description = "Its region."
  type        = string
}

variable "image" {
  description = "The container image (Artifact Registry)."
  type        = string
}

variable "service_account" {
  description = "Email of the service account it runs as."
  type        = string
}

variable "env" {
  description = "Plain environment variables (atiende's settings; docs/configuration.md)."
  type        = map(string)
  default     = {}
}

variable "secret_env" {
  description = "Environment variables read from Secret Manager: variable name => secret id."
  type        = map(string)
  default     = {}
}

variable "ingress" {
  description = "INGRESS_TRAFFIC_ALL for public webhooks; the consumers are only called by Pub/Sub but push needs a reachable URL."
  type        = string
  default     = "INGRESS_TRAFFIC_ALL"
}

variable "invokers" {
  description = "Members granted roles/run.invoker (allUsers for webhooks; the push service account for consumers)."
  type        = list(string)
  default     = []
}

variable "min_instances" {
  description = "Instances kept warm (0 scales to zero)."
  type        = number
  default     = 0
}

variable "max_instances" {
  description = "Upper bound on instances (and on the load it puts on providers and Firestore)."
  type        = number
  default     = 10
}

variable "concurrency" {
  description = "Requests one instance serves at once."
  type        = number
  default     = 80
}

variable "request_timeout_seconds" {
  description = "Cloud Run's request timeout."
  type        = number
  default     = 300
}

variable "cpu" {
  description = "CPU limit."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory limit."
  type        = string
  default     = "512Mi"
}

variable "cpu_always_allocated" {
  description = "Keep CPU between requests (background work)."
  type        = bool
  default     = false
}
