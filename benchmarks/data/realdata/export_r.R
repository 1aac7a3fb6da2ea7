# Writes the R series of the real-data corpus as CSV on stdout: series,time,value,regime.
# Run by extract.sh (see README.md); needs Debian's r-base-core and r-cran-strucchange.
# regime: the source's own indicator where it has one (Seatbelts$law, beaver activ,
# Grossarl's policy factors), blank otherwise (documented dates are applied in Python).
suppressMessages(library(strucchange))
out <- list()
add <- function(name, time, value, regime = NA) {
  out[[length(out) + 1]] <<- data.frame(series = name, time = time, value = value,
                                        regime = regime, stringsAsFactors = FALSE)
}
num_time <- function(x) format(round(as.numeric(time(x)), 4), nsmall = 4)
add("nile", num_time(Nile), as.numeric(Nile))
for (col in c("DriversKilled", "drivers", "front", "VanKilled")) {
  add(paste0("seatbelts_", col), num_time(Seatbelts), as.numeric(Seatbelts[, col]),
      as.integer(Seatbelts[, "law"]))
}
for (b in c("beaver1", "beaver2")) {
  d <- get(b)
  add(b, sprintf("%d-%04d", d$day, d$time), d$temp, d$activ)
}
data("Grossarl", package = "strucchange")
reg <- function(...) apply(cbind(...), 1, paste, collapse = "/")
add("grossarl_fraction", Grossarl$year, as.numeric(Grossarl$fraction),
    reg(as.character(Grossarl$morals), as.character(Grossarl$politics)))
add("grossarl_illegitimate", Grossarl$year, as.numeric(Grossarl$illegitimate),
    reg(as.character(Grossarl$morals), as.character(Grossarl$politics)))
add("grossarl_marriages", Grossarl$year, as.numeric(Grossarl$marriages),
    reg(as.character(Grossarl$nuptiality), as.character(Grossarl$politics)))
data("GermanM1", package = "strucchange")
add("germanm1_m", num_time(GermanM1$m), as.numeric(GermanM1$m))
data("SP2001", package = "strucchange")
for (s in c("DAL", "LUV", "BA", "CCL", "MAR", "LMT")) {
  add(paste0("sp2001_", s), format(index(SP2001)), as.numeric(SP2001[, s]))
}
all <- do.call(rbind, out)
write.csv(all, stdout(), row.names = FALSE, na = "")
