"""Stage 1 supervised fine-tuning (DSR-SPEC 7): synthesized X -> I_c + N data -> a novelist model.

Built on TRL's ``SFTTrainer`` (PEFT for LoRA, accelerate/DeepSpeed for several GPUs): ``config`` holds the
hyperparameters, ``data`` turns the Stage 1 JSONL into prompt/completion rows, ``run`` trains, evaluates
and writes the model directory, ``progress`` shows and logs it, ``card`` writes the model card.
"""
