// Starts GOV.UK Frontend's components on every Accord page. A file of its own, not an inline
// script: the pages' Content-Security-Policy allows scripts only from the service itself.
import { initAll } from '/assets/govuk-frontend.min.js'

initAll()
