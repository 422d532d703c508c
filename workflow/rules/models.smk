# Pretrained bases: Keras downloads the ImageNet no-top weights (hash-checked) on the login
# node; the saved base is the artifact every training job of that model reads.


localrules:
    download_weights,


rule download_weights:
    output:
        f"{WEIGHTS}/{{model}}-imagenet-notop.h5",
    log:
        f"{LOGS}/download_weights/{{model}}.log",
    conda:
        conda_env("tensorflow")
    params:
        input_size=config["input_size"],
        keras_cache="resources/keras",
    script:
        "../scripts/download_weights.py"
