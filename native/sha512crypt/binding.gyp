{
  "targets": [{
    "target_name": "sha512crypt",
    "sources": ["crypt.c"],
    "libraries": ["-lcrypt"]
  }]
}
