print g-fuzz-float-count.json
