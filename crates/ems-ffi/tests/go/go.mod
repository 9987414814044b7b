module ems.example/embed

go 1.19
